import AdapterProtocol
import Foundation
import Testing

/// The messages that carry a byte budget keep the wire form they had as `Int64?` fields: a byte count,
/// and unlimited left out (`limitBytes`, `budgetBytes`, recluster's `budget`) or null (`budget.set`'s
/// required `bytes`). Each literal below is what the daemon and adapterctl sent before `Budget` replaced
/// the optional byte counts; decoding it and encoding it again must give the same bytes.
@Suite("Budget wire format")
struct BudgetWireFormatTests {
    /// `text` decoded as `T` and encoded again by the protocol's encoder.
    private func reencoded<T: Codable>(_ type: T.Type, _ text: String) throws -> String {
        let value = try JSONCoding.decoder.decode(T.self, from: Data(text.utf8))
        return String(decoding: try JSONCoding.encoder.encode(value), as: UTF8.self)
    }

    static let budgetStatuses = [
        #"{"archiveBytes":456,"limitBytes":1073741824,"servedBytes":123,"source":"budget.set"}"#,
        #"{"archiveBytes":456,"servedBytes":123,"source":"configuration"}"#,
        #"{"archiveBytes":0,"limitBytes":0,"servedBytes":0}"#,
    ]

    @Test(arguments: budgetStatuses)
    func budgetStatusKeepsItsWireForm(text: String) throws {
        #expect(try reencoded(BudgetStatus.self, text) == text)
    }

    @Test func budgetStatusReadsAnExplicitNullLimitAsUnlimited() throws {
        let text = #"{"archiveBytes":1,"limitBytes":null,"servedBytes":2}"#
        #expect(try reencoded(BudgetStatus.self, text) == #"{"archiveBytes":1,"servedBytes":2}"#)
    }

    static let budgetSetParams = [#"{"bytes":67108864}"#, #"{"bytes":null}"#, #"{"bytes":0}"#]

    @Test(arguments: budgetSetParams)
    func budgetSetParamsKeepItsWireForm(text: String) throws {
        #expect(try reencoded(BudgetSetParams.self, text) == text)
    }

    static let reclusterParams = [#"{"budget":2097152,"dryRun":true}"#, #"{"dryRun":false}"#]

    @Test(arguments: reclusterParams)
    func reclusterParamsKeepTheirWireForm(text: String) throws {
        #expect(try reencoded(ReclusterParams.self, text) == text)
    }

    @Test func reclusterParamsReadNullAndAbsentAlikeAsNoNewBudget() throws {
        #expect(try reencoded(ReclusterParams.self, #"{"budget":null}"#) == #"{"dryRun":false}"#)
        #expect(try reencoded(ReclusterParams.self, #"{}"#) == #"{"dryRun":false}"#)
    }

    static let planResults = [
        #"{"budgetBytes":30000,"clusterCount":1,"clusters":[{"baseModel":"m","bytes":17600,"id":21,"index":0,"kind":"merged","rank":8,"sha256":"ab12","tasks":["a","b"]}],"#
            + #""dryRun":false,"dtype":"F16","evaluations":12,"evaluator":"weight-space","evaluatorNote":"external:x failed","generation":7,"#
            + #""kind":"clustered","meanRetainedQuality":0.8,"merger":"svd","ownTotalBytes":44000,"plannedAt":"2026-11-26T23:00:00Z","#
            + #""policy":"joint","rounds":2,"seconds":0.25,"tasks":[{"cluster":0,"evaluator":"weight-space","retainedQuality":0.8,"task":"a","version":1},"#
            + #"{"cluster":0,"retainedQuality":0.6,"task":"b","version":3}],"totalBytes":26600,"truncateOnlyMeanRetainedQuality":0.7,"#
            + #""worstRetainedQuality":0.6,"worstTask":"b"}"#,
        #"{"clusterCount":0,"clusters":[],"dryRun":true,"dtype":"F16","evaluations":0,"evaluator":"own-adapters","kind":"own","#
            + #""meanRetainedQuality":1,"ownTotalBytes":0,"plannedAt":"2026-11-26T23:00:00Z","rounds":0,"seconds":0,"tasks":[],"#
            + #""totalBytes":0,"worstRetainedQuality":1}"#,
    ]

    @Test(arguments: planResults)
    func planResultKeepsItsWireForm(text: String) throws {
        #expect(try reencoded(PlanResult.self, text) == text)
    }

    static let configResults = [
        #"{"adminGroup":"adapterd","baseModel":"/models/llama","budgetBytes":1073741824,"configFile":"/etc/adapterd/adapterd.conf","#
            + #""detectorModel":"/var/lib/m.json","detectorThreshold":0.5,"evaluator":"command","evaluatorCommand":["/bin/eval","--fast"],"#
            + #""evaluatorTimeoutSeconds":30,"idleTimeoutSeconds":60,"maxAdapterBytes":268435456,"maxConnections":64,"#
            + #""maxFrameBytes":402653184,"maxReadOnlyFrameBytes":1048576,"minilmDir":"/opt/minilm","socket":"/run/adapterd/adapterd.sock","#
            + #""stateDir":"/var/lib/adapterd","textEmbedder":"hashing"}"#,
        #"{"idleTimeoutSeconds":60,"maxAdapterBytes":268435456,"maxConnections":64,"maxFrameBytes":402653184,"#
            + #""maxReadOnlyFrameBytes":1048576,"socket":"/s","stateDir":"/d"}"#,
    ]

    @Test(arguments: configResults)
    func configResultKeepsItsWireForm(text: String) throws {
        #expect(try reencoded(ConfigResult.self, text) == text)
    }
}

extension BudgetWireFormatTests {
    /// `recluster` has no way to say "unlimited" (null means "keep the budget in force"), so encoding
    /// one is refused instead of silently sending the other meaning.
    @Test func reclusterParamsRefuseToEncodeAnUnlimitedBudget() throws {
        #expect(throws: EncodingError.self) { try JSONCoding.encoder.encode(ReclusterParams(budget: .unlimited)) }
        let limited = try JSONCoding.encoder.encode(ReclusterParams(budget: .bytes(5), dryRun: true))
        #expect(String(decoding: limited, as: UTF8.self) == #"{"budget":5,"dryRun":true}"#)
    }

    /// The typed values the literals decode to: absent or null is unlimited, a number is `.bytes`.
    @Test func budgetMembersDecodeToTheirBudget() throws {
        let decoder = JSONCoding.decoder
        #expect(try decoder.decode(BudgetStatus.self, from: Data(Self.budgetStatuses[0].utf8)).limit == .bytes(1_073_741_824))
        #expect(try decoder.decode(BudgetStatus.self, from: Data(Self.budgetStatuses[1].utf8)).limit == .unlimited)
        #expect(try decoder.decode(BudgetSetParams.self, from: Data(#"{"bytes":null}"#.utf8)).budget == .unlimited)
        #expect(try decoder.decode(PlanResult.self, from: Data(Self.planResults[0].utf8)).budget == .bytes(30_000))
        #expect(try decoder.decode(PlanResult.self, from: Data(Self.planResults[1].utf8)).budget == .unlimited)
        #expect(try decoder.decode(ConfigResult.self, from: Data(Self.configResults[0].utf8)).budget == .bytes(1_073_741_824))
        #expect(try decoder.decode(ConfigResult.self, from: Data(Self.configResults[1].utf8)).budget == .unlimited)
    }
}
