import Foundation
import TrailCore

/// The collector's HTTP read API as the `trail` commands use it: plain HTTP/1.1 GETs over a
/// blocking socket, one request per connection, bodies either buffered (JSON, text) or streamed to
/// a sink (bundles). Every length the server sends is bounded.
struct HTTPClient {
    let host: String
    let port: Int
    let url: String
    var timeoutSeconds = 30

    /// Largest response head, and largest buffered body.
    static let maxHead = 64 * 1024
    static let maxBuffered = 64 * 1024 * 1024

    init(_ url: String) throws {
        guard url.hasPrefix("http://") else {
            throw TrailError(.invalidArgument, "--http must be an http:// URL, got \(url)")
        }
        var rest = url.dropFirst("http://".count)
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        guard !rest.contains("/") else { throw TrailError(.invalidArgument, "--http takes a base URL without a path, got \(url)") }
        guard let colon = rest.lastIndex(of: ":"), let port = Int(rest[rest.index(after: colon)...]), (1...65535).contains(port) else {
            throw TrailError(.invalidArgument, "--http needs host:port, got \(url)")
        }
        host = String(rest[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        self.port = port
        self.url = "http://\(rest)"
    }

    struct Response {
        let status: Int
        let body: [UInt8]

        var text: String { String(decoding: body, as: UTF8.self) }

        /// The error for a non-200 answer to `request`: 400 is a bad argument, 404 a missing thing.
        func failure(_ request: String) -> TrailError {
            let code: TrailError.Code = status == 400 ? .invalidArgument : status == 404 ? .notFound : .connection
            return TrailError(code, "\(request): \(errorMessage)")
        }

        /// The JSON error's message, or the body.
        var errorMessage: String {
            if let o = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any], let m = o["message"] as? String {
                return "\(status) \(o["error"] ?? ""): \(m)"
            }
            return "\(status): \(text.prefix(200))"
        }
    }

    /// GETs `path`, buffering the body.
    func get(_ path: String) throws -> Response {
        var body: [UInt8] = []
        let r = try get(path) { chunk in
            guard body.count + chunk.count <= Self.maxBuffered else {
                throw TrailError(.connection, "response from \(url)\(path) is larger than \(Self.maxBuffered) bytes")
            }
            body += chunk
        }
        return r.status == 200 ? Response(status: 200, body: body) : r
    }

    /// GETs `path` and a 200 response's body as JSON, or throws with the server's error.
    func json(_ path: String) throws -> [String: Any] {
        let r = try get(path)
        guard r.status == 200 else { throw r.failure(url + path) }
        guard let o = try? JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any] else {
            throw TrailError(.invalidJSON, "\(url)\(path) did not return a JSON object")
        }
        return o
    }

    /// GETs `path`. A 200 response's body goes to `sink` as it arrives (after de-chunking) and the
    /// returned body is empty; any other response's body is returned (at most 1 MiB is kept).
    func get(_ path: String, sink okSink: ([UInt8]) throws -> Void) throws -> Response {
        let fd = try connect()
        defer { close(fd) }
        var conn = Connection(fd: fd, url: url)
        try conn.send(Array("GET \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nUser-Agent: trail\r\nConnection: close\r\n\r\n".utf8))

        // Head.
        var headBytes: [UInt8] = []
        while true {
            if let end = find(headBytes, [13, 10, 13, 10]) {
                conn.pending = Array(headBytes[(end + 4)...])
                conn.pos = 0
                headBytes = Array(headBytes[..<end])
                break
            }
            guard headBytes.count < Self.maxHead else { throw TrailError(.connection, "\(url): response head over \(Self.maxHead) bytes") }
            guard let chunk = try conn.readSome() else { throw TrailError(.connection, "\(url) closed the connection before answering") }
            headBytes += chunk
        }
        let lines = String(decoding: headBytes, as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ")
        guard statusParts.count >= 2, statusParts[0].hasPrefix("HTTP/1."), let status = Int(statusParts[1]) else {
            throw TrailError(.connection, "\(url): not an HTTP response: \(lines[0].prefix(80))")
        }
        var errorBody: [UInt8] = []
        func sink(_ chunk: [UInt8]) throws {
            if status == 200 { try okSink(chunk) } else if errorBody.count < 1 << 20 { errorBody += chunk }
        }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }

        // Body: chunked, by length, or to the end of the connection.
        if headers["transfer-encoding"]?.lowercased() == "chunked" {
            while true {
                let sizeLine = try conn.line(limit: 1024)
                let hex = sizeLine.split(separator: ";", maxSplits: 1).first.map(String.init) ?? ""
                guard let size = Int(hex.trimmingCharacters(in: .whitespaces), radix: 16), size >= 0, size <= 1 << 30 else {
                    throw TrailError(.connection, "\(url): bad chunk size line")
                }
                if size == 0 { break }
                var left = size
                while left > 0 {
                    let part = try conn.read(upTo: left)
                    left -= part.count
                    try sink(part)
                }
                guard try conn.line(limit: 2).isEmpty else { throw TrailError(.connection, "\(url): chunk not followed by CRLF") }
            }
        } else if let lengthText = headers["content-length"] {
            guard let length = Int(lengthText), length >= 0 else { throw TrailError(.connection, "\(url): bad Content-Length") }
            var left = length
            while left > 0 {
                let part = try conn.read(upTo: left)
                left -= part.count
                try sink(part)
            }
        } else {
            while let part = try conn.readSome() { try sink(part) }
        }
        return Response(status: status, body: errorBody)
    }

    private func connect() throws -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var res: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &res) == 0, let first = res else {
            throw TrailError(.connection, "cannot resolve \(host)")
        }
        defer { freeaddrinfo(res) }
        var lastError = ECONNREFUSED
        var ai: UnsafeMutablePointer<addrinfo>? = first
        while let a = ai {
            let fd = socket(a.pointee.ai_family, a.pointee.ai_socktype, a.pointee.ai_protocol)
            if fd >= 0 {
                var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
                setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
                setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
                if Glibc.connect(fd, a.pointee.ai_addr, a.pointee.ai_addrlen) == 0 { return fd }
                lastError = errno
                close(fd)
            }
            ai = a.pointee.ai_next
        }
        throw TrailError(.connection, "cannot connect to \(url): \(String(cString: strerror(lastError)))")
    }

    /// Buffered reads over the socket.
    struct Connection {
        let fd: Int32
        let url: String
        /// Bytes received but not consumed: `pending[pos...]`.
        var pending: [UInt8] = []
        var pos = 0

        func send(_ bytes: [UInt8]) throws {
            var done = 0
            while done < bytes.count {
                let n = bytes[done...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw TrailError(.connection, "cannot send to \(url): \(String(cString: strerror(errno)))") }
                done += n
            }
        }

        /// The next bytes, or nil at the end of the connection.
        mutating func readSome() throws -> [UInt8]? {
            if pos < pending.count {
                defer { (pending, pos) = ([], 0) }
                return Array(pending[pos...])
            }
            var buf = [UInt8](repeating: 0, count: 256 * 1024)
            while true {
                let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n < 0 && errno == EINTR { continue }
                if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { throw TrailError(.connection, "\(url) timed out") }
                guard n >= 0 else { throw TrailError(.connection, "cannot read from \(url): \(String(cString: strerror(errno)))") }
                return n == 0 ? nil : Array(buf[..<n])
            }
        }

        /// Between 1 and `max` bytes; the connection must not end first.
        mutating func read(upTo max: Int) throws -> [UInt8] {
            if pos == pending.count {
                guard let more = try readSome() else { throw TrailError(.connection, "\(url) ended the response early") }
                (pending, pos) = (more, 0)
            }
            let n = min(max, pending.count - pos)
            defer { pos += n }
            return Array(pending[pos..<(pos + n)])
        }

        /// One CRLF-terminated line without its CRLF.
        mutating func line(limit: Int) throws -> String {
            var out: [UInt8] = []
            while true {
                let b = try read(upTo: 1)[0]
                if b == 10, out.last == 13 { return String(decoding: out.dropLast(), as: UTF8.self) }
                out.append(b)
                guard out.count <= limit + 1 else { throw TrailError(.connection, "\(url): line over \(limit) bytes") }
            }
        }
    }
}

private func find(_ hay: [UInt8], _ needle: [UInt8]) -> Int? {
    guard hay.count >= needle.count else { return nil }
    for i in 0...(hay.count - needle.count) where hay[i..<(i + needle.count)].elementsEqual(needle) { return i }
    return nil
}
