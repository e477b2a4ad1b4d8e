import AdapterProtocol
import Foundation
import Testing

@Suite("JSON-RPC messages")
struct MessageTests {
    private func parse(_ text: String) -> Result<RPCInboundRequest, RPCFailure> {
        do {
            return .success(try RPCInboundRequest.parse(Data(text.utf8)))
        } catch {
            return .failure(error)
        }
    }

    private func failureCode(_ text: String) -> RPCErrorCode? {
        if case .failure(let failure) = parse(text) { return failure.error.code }
        return nil
    }

    @Test func parsesARequestWithTypedParams() throws {
        let request = try parse(#"{"jsonrpc":"2.0","id":"r1","method":"route","params":{"task":"sum"}}"#).get()
        #expect(request.id == .string("r1"))
        #expect(request.method == "route")
        let params = try request.params(as: RouteParams.self)
        #expect(params.task == "sum")
        #expect(params.text == nil)
    }

    @Test func absentParamsDecodeAsEmpty() throws {
        let request = try parse(#"{"jsonrpc":"2.0","id":1,"method":"status"}"#).get()
        _ = try request.params(as: NoParams.self)
        #expect(throws: RPCError.self) { try request.params(as: TaskParams.self) }
    }

    @Test(arguments: [
        ("{not json", RPCErrorCode.parseError),
        ("", RPCErrorCode.parseError),
        ("\u{FF}\u{FE}", RPCErrorCode.parseError),
        ("[1,2]", RPCErrorCode.invalidRequest),
        ("42", RPCErrorCode.invalidRequest),
        (#"{"id":1,"method":"status"}"#, RPCErrorCode.invalidRequest),
        (#"{"jsonrpc":"1.0","id":1,"method":"status"}"#, RPCErrorCode.invalidRequest),
        (#"{"jsonrpc":"2.0","id":1}"#, RPCErrorCode.invalidRequest),
        (#"{"jsonrpc":"2.0","id":1,"method":7}"#, RPCErrorCode.invalidRequest),
        (#"{"jsonrpc":"2.0","id":null,"method":"status"}"#, RPCErrorCode.invalidRequest),
        (#"{"jsonrpc":"2.0","id":[1],"method":"status"}"#, RPCErrorCode.invalidRequest),
    ])
    func rejectsMalformedRequests(text: String, code: RPCErrorCode) {
        #expect(failureCode(text) == code)
    }

    @Test func invalidParamsNameTheMember() throws {
        let request = try parse(#"{"jsonrpc":"2.0","id":1,"method":"show","params":{"task":5}}"#).get()
        do {
            _ = try request.params(as: TaskParams.self)
            Issue.record("expected invalid params")
        } catch {
            #expect(error.code == .invalidParams)
            #expect(error.message.contains("task"))
        }
    }

    @Test func failureWithoutIdEncodesAnExplicitNull() throws {
        let data = RPCEncoding.failure(id: nil, error: RPCError(code: .tooLarge, message: "big"))
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["id"] is NSNull)
        let error = try #require(object["error"] as? [String: Any])
        #expect(error["code"] as? Int == -32005)
    }

    @Test func errorDetailsRoundTrip() throws {
        let verdict = VerdictInfo(decision: "poisoned", score: 0.97, threshold: 0.5,
                                  topFeatures: [VerdictFeature(name: "q.kurtosis", value: 4, contribution: 2.5)], model: "m")
        let error = RPCError(code: .refused, message: "refused",
                             details: RefusalDetails(task: "t", sha256: "ab", verdict: verdict, quarantineId: 3))
        let data = RPCEncoding.failure(id: .number(9), error: error)
        let envelope = try JSONDecoder().decode(RPCEnvelope.self, from: data)
        let decoded = try #require(envelope.error)
        #expect(decoded.code == .refused)
        #expect(decoded.details(as: RefusalDetails.self)?.verdict == verdict)
        #expect(envelope.id == .some(.number(9)))
    }

    @Test func resultsRoundTripThroughTheirWireForm() throws {
        let status = StatusResult(
            daemon: "adapterd", version: "1", protocolVersion: 1, pid: 1, uptimeSeconds: 2.5, socketActivated: true,
            tasks: 3, generation: 4, budget: BudgetStatus(limit: .unlimited, servedBytes: 10, archiveBytes: 20),
            quarantined: 1, detector: DetectorInfo(model: "m", threshold: 0.5),
            peer: PeerInfo(uid: 1000, gid: 1000, pid: 5, mayMutate: false))
        let data = try RPCEncoding.success(id: .number(1), result: status)
        let text = String(decoding: data, as: UTF8.self)
        // Optional members without a value are omitted (docs/PROTOCOL.md, "Messages").
        #expect(!text.contains("limitBytes"))
        #expect(text.contains(#""servedBytes":10"#))
        struct Wrapper: Decodable { var result: StatusResult }
        #expect(try JSONDecoder().decode(Wrapper.self, from: data).result == status)
    }

    @Test func budgetSetRequiresTheBytesMemberButAcceptsNull() throws {
        let unlimited = try parse(#"{"jsonrpc":"2.0","id":1,"method":"budget.set","params":{"bytes":null}}"#).get()
        #expect(try unlimited.params(as: BudgetSetParams.self).budget == .unlimited)
        let missing = try parse(#"{"jsonrpc":"2.0","id":1,"method":"budget.set","params":{}}"#).get()
        #expect(throws: RPCError.self) { try missing.params(as: BudgetSetParams.self) }
    }
}

@Suite("Byte sizes")
struct ByteSizeTests {
    static let sizes: [(String, Int64)] = [
        ("1048576", 1_048_576), ("64MiB", 64 * 1024 * 1024), ("1.5GB", 1_500_000_000), ("512 KiB", 512 * 1024),
        ("2k", 2048), ("10B", 10), ("1 tb", 1_000_000_000_000), ("0", 0),
    ]

    @Test(arguments: sizes)
    func parses(text: String, bytes: Int64) throws {
        #expect(try ByteSize.parse(text) == bytes)
    }

    @Test(arguments: ["", "MiB", "-5MB", "12 parsecs", "1.5", "1..2GB", "99999999999TB"])
    func rejectsWithAMessageQuotingTheText(text: String) {
        do {
            _ = try ByteSize.parse(text, what: "budget")
            Issue.record("'\(text)' parsed")
        } catch {
            #expect(error.message.contains("budget"))
        }
    }

    @Test(arguments: ["-1", "-0.5GB", " -64MiB", "-.5k"])
    func negativeSizesAreRefusedAsNegative(text: String) {
        #expect {
            try ByteSize.parse(text, what: "--budget")
        } throws: { error in
            (error as? ByteSizeError)?.message == "--budget '\(text)' is negative; a size is 0 or more bytes, e.g. 0, 64MiB or 1.5GB"
        }
    }

    /// Up to 1 EiB; anything larger (however written) is "too large", never a trap.
    @Test func sizesStopAtOneExbibyte() throws {
        #expect(try ByteSize.parse("1048576TiB") == ByteSize.maximum)
        #expect(try ByteSize.parse("1152921504606846976") == 1 << 60)
        for text in ["1048577TiB", "1152921504606846977", "99999999999TiB", "9000000TiB", String(repeating: "9", count: 400) + "TB",
                     "1" + String(repeating: "0", count: 300) + "TiB"] {
            #expect {
                try ByteSize.parse(text, what: "budget")
            } throws: { error in
                (error as? ByteSizeError)?.message.hasPrefix("budget '\(text)' is too large; the largest size is 1 EiB") == true
            }
        }
        // Twice the largest adapter plus twice the largest examples size still fits Int64 (frame limits).
        #expect(!(ByteSize.maximum * 2).multipliedReportingOverflow(by: 2).overflow)
    }

    @Test func unlimitedIsNil() throws {
        #expect(try Budget.parse("unlimited") == .unlimited)
        #expect(try Budget.parse("1KiB") == .bytes(1024))
    }

    @Test func formatsWithBinaryUnits() {
        #expect(ByteSize.format(512) == "512 B")
        #expect(ByteSize.format(1536) == "1.5 KiB")
        #expect(ByteSize.format(64 * 1024 * 1024) == "64.0 MiB")
        #expect(ByteSize.formatWithCount(512) == "512 bytes")
        #expect(ByteSize.formatWithCount(1536) == "1.5 KiB (1536 bytes)")
        #expect(ByteSize.formatWithCount(64 << 20) == "64.0 MiB (67108864 bytes)")
    }
}
