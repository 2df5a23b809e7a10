/// A strict RFC 8259 JSON reader for documents that are verified (disclosures): valid UTF-8, no
/// byte order mark, no duplicate object keys, no lone surrogates, nothing after the value, and a
/// bounded nesting depth and number of values. Numbers are kept as their exact source text, so `1` and `1.0` differ.
///
/// Foundation's `JSONSerialization` keeps one of two duplicate keys silently, so two verifiers
/// could read one document differently; this reader refuses such a document instead.
enum StrictJSON {
    indirect enum Value: Equatable {
        case object([String: Value])
        case array([Value])
        case string(String)
        case number(String)
        case bool(Bool)
        case null
    }

    /// The one error of this reader; callers map it to their own code.
    struct Failure: Error {
        let reason: String
    }

    /// Parses one JSON text. `maxValues` bounds the values of any kind (objects, members' values,
    /// items, scalars) so that a small document cannot make the reader build millions of them.
    static func parse(_ bytes: [UInt8], maxDepth: Int = 16, maxValues: Int = 1024) throws(Failure) -> Value {
        guard String(validating: bytes, as: UTF8.self) != nil else { throw Failure(reason: "not valid UTF-8") }
        let result = bytes.withUnsafeBufferPointer { buf in
            Result { () throws(Failure) -> Value in
                var p = Parser(b: buf, maxDepth: maxDepth, maxValues: maxValues)
                p.skipSpace()
                let v = try p.value(depth: 0)
                p.skipSpace()
                guard p.i == buf.count else { throw Failure(reason: "bytes after the JSON value at offset \(p.i)") }
                return v
            }
        }
        return try result.get()
    }

    private struct Parser {
        let b: UnsafeBufferPointer<UInt8>
        let maxDepth: Int
        let maxValues: Int
        var i = 0
        var values = 0

        init(b: UnsafeBufferPointer<UInt8>, maxDepth: Int, maxValues: Int) {
            self.b = b
            self.maxDepth = maxDepth
            self.maxValues = maxValues
        }

        func fail(_ what: String) -> Failure { Failure(reason: "\(what) at offset \(i)") }

        mutating func skipSpace() {
            while i < b.count, b[i] == 0x20 || b[i] == 0x09 || b[i] == 0x0a || b[i] == 0x0d { i += 1 }
        }

        mutating func expect(_ c: UInt8) throws(Failure) {
            guard i < b.count, b[i] == c else { throw fail("expected '\(Character(Unicode.Scalar(c)))'") }
            i += 1
        }

        mutating func literal(_ word: String) throws(Failure) {
            for c in word.utf8 { try expect(c) }
        }

        mutating func value(depth: Int) throws(Failure) -> Value {
            guard depth < maxDepth else { throw fail("nesting deeper than \(maxDepth)") }
            values += 1
            guard values <= maxValues else { throw fail("more than \(maxValues) values") }
            guard i < b.count else { throw fail("unexpected end of input") }
            switch b[i] {
            case UInt8(ascii: "{"): return try object(depth: depth)
            case UInt8(ascii: "["): return try array(depth: depth)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"):
                try literal("true")
                return .bool(true)
            case UInt8(ascii: "f"):
                try literal("false")
                return .bool(false)
            case UInt8(ascii: "n"):
                try literal("null")
                return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
            default: throw fail("unexpected character")
            }
        }

        mutating func object(depth: Int) throws(Failure) -> Value {
            try expect(UInt8(ascii: "{"))
            var members: [String: Value] = [:]
            skipSpace()
            if i < b.count, b[i] == UInt8(ascii: "}") {
                i += 1
                return .object(members)
            }
            while true {
                skipSpace()
                guard i < b.count, b[i] == UInt8(ascii: "\"") else { throw fail("expected an object key") }
                let key = try string()
                guard members[key] == nil else { throw fail("duplicate key \(String(reflecting: String(key.prefix(64))))") }
                skipSpace()
                try expect(UInt8(ascii: ":"))
                skipSpace()
                members[key] = try value(depth: depth + 1)
                skipSpace()
                guard i < b.count else { throw fail("unterminated object") }
                if b[i] == UInt8(ascii: ",") {
                    i += 1
                    continue
                }
                try expect(UInt8(ascii: "}"))
                return .object(members)
            }
        }

        mutating func array(depth: Int) throws(Failure) -> Value {
            try expect(UInt8(ascii: "["))
            var items: [Value] = []
            skipSpace()
            if i < b.count, b[i] == UInt8(ascii: "]") {
                i += 1
                return .array(items)
            }
            while true {
                skipSpace()
                items.append(try value(depth: depth + 1))
                skipSpace()
                guard i < b.count else { throw fail("unterminated array") }
                if b[i] == UInt8(ascii: ",") {
                    i += 1
                    continue
                }
                try expect(UInt8(ascii: "]"))
                return .array(items)
            }
        }

        /// A string; the input is known to be valid UTF-8, so unescaped runs are copied as they are.
        mutating func string() throws(Failure) -> String {
            try expect(UInt8(ascii: "\""))
            var out: [UInt8] = []
            var runStart = i
            while true {
                guard i < b.count else { throw fail("unterminated string") }
                let c = b[i]
                if c == UInt8(ascii: "\"") {
                    out.append(contentsOf: b[runStart..<i])
                    i += 1
                    return String(decoding: out, as: UTF8.self)
                }
                if c < 0x20 { throw fail("control character in a string") }
                if c != UInt8(ascii: "\\") {
                    i += 1
                    continue
                }
                out.append(contentsOf: b[runStart..<i])
                i += 1
                guard i < b.count else { throw fail("unterminated escape") }
                let e = b[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0c)
                case UInt8(ascii: "n"): out.append(0x0a)
                case UInt8(ascii: "r"): out.append(0x0d)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xd800...0xdbff).contains(scalar) {
                        guard i + 1 < b.count, b[i] == UInt8(ascii: "\\"), b[i + 1] == UInt8(ascii: "u") else {
                            throw fail("lone high surrogate")
                        }
                        i += 2
                        let low = try hex4()
                        guard (0xdc00...0xdfff).contains(low) else { throw fail("high surrogate without a low one") }
                        scalar = 0x10000 + ((scalar - 0xd800) << 10) + (low - 0xdc00)
                    } else if (0xdc00...0xdfff).contains(scalar) {
                        throw fail("lone low surrogate")
                    }
                    out.append(contentsOf: String(Character(Unicode.Scalar(scalar)!)).utf8)
                default: throw fail("invalid escape")
                }
                runStart = i
            }
        }

        mutating func hex4() throws(Failure) -> UInt32 {
            guard i + 4 <= b.count else { throw fail("truncated \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = b[i]
                let d: UInt32
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
                default: throw fail("bad \\u escape")
                }
                v = v << 4 | d
                i += 1
            }
            return v
        }

        /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, returned as text.
        mutating func number() throws(Failure) -> String {
            let start = i
            func isDigit(_ j: Int) -> Bool { j < b.count && b[j] >= UInt8(ascii: "0") && b[j] <= UInt8(ascii: "9") }
            if b[i] == UInt8(ascii: "-") { i += 1 }
            guard isDigit(i) else { throw fail("bad number") }
            if b[i] == UInt8(ascii: "0") {
                i += 1
            } else {
                while isDigit(i) { i += 1 }
            }
            if i < b.count, b[i] == UInt8(ascii: ".") {
                i += 1
                guard isDigit(i) else { throw fail("bad number") }
                while isDigit(i) { i += 1 }
            }
            if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
                i += 1
                if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
                guard isDigit(i) else { throw fail("bad number") }
                while isDigit(i) { i += 1 }
            }
            return String(decoding: b[start..<i], as: UTF8.self)
        }
    }
}
