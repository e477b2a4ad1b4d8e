import Foundation

/// What the daemon makes of one request frame, in a form two ways of reading it can be compared in:
/// the request (id, method, whether it has params) or the error response sent back, and for the
/// params type of every method, the params (re-encoded as JSON) or the `invalid params` error.
///
/// `RPCRequestScanner` is a shortcut in front of JSONDecoder, so `RPCParseOutcome(payload, path:
/// .daemon)` (`RPCInboundRequest.parse`, the scanner first, as every frame goes) must equal
/// `RPCParseOutcome(payload, path: .decoderOnly)` for every payload. The property tests and the
/// protocol fuzz target check that.
@_spi(Testing)
public struct RPCParseOutcome: Equatable, Sendable, CustomStringConvertible {
    /// How the frame is read.
    public enum Path: Sendable {
        /// `RPCInboundRequest.parse`: the scanner, falling back to JSONDecoder.
        case daemon
        /// `RPCInboundRequest.parseDecoding`: JSONDecoder alone.
        case decoderOnly
    }

    /// `id method hasParams`, or the error response's JSON text.
    public let request: String
    /// One entry per params type, in `paramsTypes` order: the params as JSON, or the error.
    public let params: [String]
    /// Whether the scanner read the frame itself (always false for `.decoderOnly`).
    public let scanned: Bool
    /// The request's id, when the frame is a request with one.
    public let id: RPCID?

    /// The params types of the methods (one entry each, so `params` lines up).
    public static let paramsTypes: [any (Codable & Sendable).Type] = [
        NoParams.self, InstallParams.self, TaskParams.self, RouteParams.self, TextRouteParams.self,
        BudgetSetParams.self, ReclusterParams.self, ExportParams.self,
    ]

    public init(_ payload: Data, path: Path) {
        let request: RPCInboundRequest
        do {
            switch path {
            case .daemon: request = try RPCInboundRequest.parse(payload)
            case .decoderOnly: request = try RPCInboundRequest.parseDecoding(payload)
            }
        } catch {
            self.request = String(decoding: RPCEncoding.failure(id: error.id, error: error.error), as: UTF8.self)
            params = []
            scanned = false
            id = nil
            return
        }
        self.request = "\(request.id.map(String.init(describing:)) ?? "-") \(request.method) \(request.hasParams)"
        params = Self.paramsTypes.map { Self.params(request, as: $0) }
        scanned = path == .daemon && RPCRequestScanner.scan(payload) != nil
        id = request.id
    }

    private static func params<P: Codable>(_ request: RPCInboundRequest, as type: P.Type) -> String {
        do {
            let params = try request.params(as: type)
            return String(decoding: try JSONCoding.encoder.encode(params), as: UTF8.self)
        } catch let error as RPCError {
            return "error \(error.code.rawValue) \(error.message)"
        } catch {
            return "encoding failed: \(error)"
        }
    }

    /// Equal when the request and every params outcome are (`scanned` says only which path ran).
    public static func == (lhs: RPCParseOutcome, rhs: RPCParseOutcome) -> Bool {
        lhs.request == rhs.request && lhs.params == rhs.params
    }

    public var description: String {
        ([request] + params).joined(separator: "\n  ")
    }
}
