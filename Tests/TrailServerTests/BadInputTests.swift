import AgentTrail
import Testing
import TrailServer

@Suite("Bad input over TCP")
struct BadInputTests {
    /// The connection gets an ERROR frame with `code` and is closed; the server keeps serving.
    func expectError(_ s: RawSocket, _ code: TrailError.Code, port: Int) throws {
        let reply = try s.read()
        guard case .error(let got, _) = reply else {
            Issue.record("expected ERROR \(code), got \(reply)")
            return
        }
        #expect(got == code)
        #expect(s.isClosedByPeer())
        let other = try RawSocket(port: port)
        try other.hello()
        other.send(.ping(nonce: 1))
        #expect(try other.read() == .pong(nonce: 1))
    }

    @Test func garbageIsAnUnknownFrameType() async throws {
        try await withCollector { _, port in
            let s = try RawSocket(port: port)
            s.send([0, 0, 0, 4, 0x55, 1, 2, 3])
            try expectError(s, .unknownFrameType, port: port)
        }
    }

    @Test func oversizedLengthPrefixIsRejectedBeforeBuffering() async throws {
        try await withCollector { _, port in
            let s = try RawSocket(port: port)
            s.send([0xff, 0xff, 0xff, 0xff, 0x03])
            try expectError(s, .frameTooLarge, port: port)
        }
    }

    @Test func zeroLengthFrame() async throws {
        try await withCollector { _, port in
            let s = try RawSocket(port: port)
            s.send([0, 0, 0, 0])
            try expectError(s, .malformedFrame, port: port)
        }
    }

    @Test func firstFrameMustBeHello() async throws {
        try await withCollector { _, port in
            let s = try RawSocket(port: port)
            s.send(.ping(nonce: 1))
            try expectError(s, .helloRequired, port: port)
        }
    }

    @Test func unsupportedProtocolVersion() async throws {
        try await withCollector { _, port in
            let s = try RawSocket(port: port)
            s.send(.hello(version: 99, client: "future"))
            try expectError(s, .unsupportedProtocol, port: port)
        }
    }

    @Test func truncatedPayloadInsideAFrame() async throws {
        try await withCollector { _, port in
            let s = try RawSocket(port: port)
            try s.hello()
            // A HEAD_QUERY frame whose payload is 10 bytes instead of 40.
            s.send([0, 0, 0, 11, 0x05] + [UInt8](repeating: 0, count: 10))
            try expectError(s, .malformedFrame, port: port)
        }
    }

    @Test func entryLengthPastTheFrame() async throws {
        try await withCollector { _, port in
            let s = try RawSocket(port: port)
            try s.hello()
            var w = ByteWriter()
            w.u8(0x03)
            w.u64(1)
            w.u16(1)
            w.u32(1000)
            w.raw([1, 2, 3])
            s.send([0, 0, 0, UInt8(w.bytes.count)] + w.bytes)
            try expectError(s, .malformedFrame, port: port)
        }
    }

    @Test func connectionDroppedMidFrameLeavesTheServerServing() async throws {
        try await withCollector { _, port in
            do {
                let s = try RawSocket(port: port)
                try s.hello()
                s.send([0, 0, 1, 0, 0x03, 1, 2])  // promises 256 bytes, sends 2, then closes
            }
            let other = try RawSocket(port: port)
            try other.hello()
            var a = TestAgent("after-drop")
            #expect(try other.append([a.next()]) == [.accepted(index: 0)])
        }
    }

    @Test func replayedEntriesAreDuplicatesNotNewFacts() async throws {
        try await withCollector { collector, port in
            let s = try RawSocket(port: port)
            try s.hello()
            var a = TestAgent("replay")
            let entries = (0..<5).map { _ in a.next() }
            _ = try s.append(entries)
            let again = try RawSocket(port: port)
            try again.hello()
            #expect(try again.append(entries, id: 9) == (0..<5).map { .duplicate(index: UInt64($0)) })
            #expect(try collector.store.logSize() == 5)
        }
    }
}
