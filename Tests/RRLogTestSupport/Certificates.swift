import Foundation

/// A private CA and a server certificate for localhost and 127.0.0.1 it signed, made with the
/// openssl command.
public enum Certificates {
    /// Writes ca.pem/ca.key (a test CA) and server.pem/server.key (localhost and 127.0.0.1, signed
    /// by it) into `directory`.
    public static func make(in directory: String) throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl") else { throw TestPaths.missing("the openssl command") }
        try "subjectAltName=DNS:localhost,IP:127.0.0.1\n".write(toFile: directory + "/san.ext", atomically: true, encoding: .utf8)
        let steps = [
            "req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=rrlog-test-ca",
            "req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost",
            "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile san.ext",
        ]
        for step in steps {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
            process.arguments = step.split(separator: " ").map(String.init)
            process.currentDirectoryURL = URL(fileURLWithPath: directory)
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { throw POSIXError(.EIO) }
        }
    }
}
