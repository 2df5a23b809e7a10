"""asyncio front for AgentLog: each call runs the blocking AgentLog in a worker thread
(`asyncio.to_thread`), so the event loop never blocks on the network. Calls on one
AsyncAgentLog are serialized like AgentLog's; to pipeline, pass many bodies to one
`append_many`."""

import asyncio

from .log import AgentLog

__all__ = ["AsyncAgentLog"]


class AsyncAgentLog:
    """`await log.append(body)`, `append_many`, `append_action`, ... with the arguments and
    promises of AgentLog (which `log.sync` is)."""

    def __init__(self, key, address="127.0.0.1:7411", **options):
        self.sync = AgentLog(key, address, **options)

    async def append(self, body, timestamp_ms=None):
        return await asyncio.to_thread(self.sync.append, body, timestamp_ms)

    async def append_many(self, bodies, timestamps_ms=None):
        return await asyncio.to_thread(self.sync.append_many, list(bodies), timestamps_ms)

    async def append_action(self, action_type, target="", **fields):
        return await asyncio.to_thread(self.sync.append_action, action_type, target, **fields)

    async def append_receipt(self, request_commitment, outcome="ok", **fields):
        return await asyncio.to_thread(self.sync.append_receipt, request_commitment, outcome, **fields)

    async def append_registration(self, agent, label="", **fields):
        return await asyncio.to_thread(self.sync.append_registration, agent, label, **fields)

    async def append_policy(self, agent, version, **fields):
        return await asyncio.to_thread(self.sync.append_policy, agent, version, **fields)

    async def append_report(self, subject, category, **fields):
        return await asyncio.to_thread(self.sync.append_report, subject, category, **fields)

    async def close(self):
        await asyncio.to_thread(self.sync.close)

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()
