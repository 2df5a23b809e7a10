import Foundation

enum FileManagerShim {
    static func exists(_ path: String, _ isDir: inout ObjCBool) -> Bool {
        FileManager.default.fileExists(atPath: path, isDirectory: &isDir)
    }
    static func create(_ path: String) -> Bool {
        (try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)) != nil
    }
}
