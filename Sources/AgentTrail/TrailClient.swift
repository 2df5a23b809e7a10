import NIOCore
import NIOPosix

/// A collector endpoint with automatic reconnection. `connection()` hands out the live
/// connection, reconnecting with backoff when it has dropped.
public actor TrailClient {
    public let host: String
    public let port: Int
    /// How long `connection()` keeps trying before it gives up.
    public var reconnectTimeout: Duration
    private var current: TrailConnection?
    private var connecting: Task<TrailConnection, Error>?
    private let group: EventLoopGroup

    public init(host: String = "127.0.0.1", port: Int = 7411, reconnectTimeout: Duration = .seconds(30),
                group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.host = host
        self.port = port
        self.reconnectTimeout = reconnectTimeout
        self.group = group
    }

    /// Parses `HOST:PORT`.
    public init(address: String) throws {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else {
            throw TrailError(.invalidArgument, "expected HOST:PORT, got \(address)")
        }
        self.init(host: String(address[..<colon]), port: port)
    }

    public func setReconnectTimeout(_ d: Duration) { reconnectTimeout = d }

    /// The live connection, connecting first if there is none. Concurrent callers share one
    /// reconnection attempt.
    public func connection() async throws -> TrailConnection {
        if let c = current, c.isActive { return c }
        current = nil
        if let pending = connecting { return try await pending.value }
        let attempt = Task { [host, port, group, reconnectTimeout] in
            let clock = ContinuousClock()
            let deadline = clock.now + reconnectTimeout
            var delay = Duration.milliseconds(50)
            while true {
                do {
                    return try await TrailConnection.connect(host: host, port: port, group: group)
                } catch {
                    if clock.now + delay > deadline { throw error }
                    try await Task.sleep(for: delay)
                    delay = min(delay * 2, .seconds(1))
                }
            }
        }
        connecting = attempt
        defer { connecting = nil }
        let c = try await attempt.value
        current = c
        return c
    }

    /// Forgets a connection that failed so the next call reconnects.
    public func discard(_ c: TrailConnection) async {
        if current === c { current = nil }
        await c.close()
    }

    public func close() async {
        if let c = current { await c.close() }
        current = nil
    }
}
