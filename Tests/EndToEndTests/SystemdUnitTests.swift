import Foundation
import Testing

/// The shipped unit files pass `systemd-analyze verify` without a single complaint.
@Suite("systemd units")
struct SystemdUnitTests {
    @Test func unitFilesVerifyCleanly() throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        // verify checks that ExecStart= exists: point it at the built binary, change nothing else.
        let service = try String(contentsOfFile: Paths.packageRoot + "/systemd/adapterd.service", encoding: .utf8)
        #expect(service.contains("ExecStart=/usr/bin/adapterd "))
        try service.replacingOccurrences(of: "ExecStart=/usr/bin/adapterd ", with: "ExecStart=\(Paths.adapterd) ")
            .write(toFile: sandbox.root + "/adapterd.service", atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(atPath: Paths.packageRoot + "/systemd/adapterd.socket",
                                         toPath: sandbox.root + "/adapterd.socket")
        let result = try run("/usr/bin/systemd-analyze",
                             ["verify", sandbox.root + "/adapterd.socket", sandbox.root + "/adapterd.service"])
        #expect(result.status == 0)
        #expect(result.stderr.isEmpty, "systemd-analyze verify complained: \(result.stderr)")
        #expect(result.stdout.isEmpty, "\(result.stdout)")

        let security = try run("/usr/bin/systemd-analyze",
                               ["security", "--offline=yes", "--threshold=20", sandbox.root + "/adapterd.service"])
        #expect(security.status == 0, "exposure above 2.0 (threshold is in tenths): \(security.stdout.suffix(300))")
    }

    @Test func sysusersAndTmpfilesCreateTheUserGroupsAndDirectories() throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        try FileManager.default.createDirectory(atPath: sandbox.root + "/etc", withIntermediateDirectories: true)
        let users = try run("/usr/bin/systemd-sysusers",
                            ["--root=\(sandbox.root)", Paths.packageRoot + "/systemd/adapterd.sysusers.conf"])
        #expect(users.status == 0, "\(users.stderr)")
        let passwd = try String(contentsOfFile: sandbox.root + "/etc/passwd", encoding: .utf8)
        let group = try String(contentsOfFile: sandbox.root + "/etc/group", encoding: .utf8)
        let adapterdLine = try #require(passwd.split(separator: "\n").first { $0.hasPrefix("adapterd:") })
        #expect(group.split(separator: "\n").contains { $0.hasPrefix("adapterd-admin:") && $0.hasSuffix(":adapterd") })
        let files = try run("/usr/bin/systemd-tmpfiles",
                            ["--root=\(sandbox.root)", "--create", Paths.packageRoot + "/systemd/adapterd.tmpfiles.conf"])
        #expect(files.status == 0, "\(files.stderr)")
        var info = stat()
        #expect(stat(sandbox.root + "/var/lib/adapterd", &info) == 0)
        #expect(info.st_mode & 0o777 == 0o700)
        let uid = adapterdLine.split(separator: ":")[2]
        #expect("\(info.st_uid)" == uid)
    }
}
