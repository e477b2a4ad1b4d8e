import AdapterCore
import AdapterProtocol
import AdapterStore
import Foundation

extension ReadModel {
    /// `route.text`: the tasks whose few examples the text most resembles (cosine similarity of the
    /// text's embedding and each task's mean example embedding), each with what `route` answers for it.
    /// The embedding runs on the index's own dispatch queue, not on the cooperative pool.
    func routeText(_ params: TextRouteParams) async throws -> TextRouteResult {
        try params.validate()
        let answer: (embedder: TextEmbedderKind, matches: [TaskRouter.Match])
        do {
            answer = try await textIndex.route(params.text, top: params.effectiveTop)
        } catch {
            throw ReadError(.embeddingFailed, "cannot embed the text: \(error)")
        }
        let matches = try answer.matches.map { match in
            TextRouteMatch(task: match.task, similarity: match.similarity, route: try servedRoute(of: match.task))
        }
        return TextRouteResult(embedder: answer.embedder.rawValue, matches: matches)
    }

    /// `status` with its text-routing part: the active embedder and how many tasks it indexes.
    func statusWithTextRouting(_ context: RequestContext) throws -> StatusResult {
        var result = try status(context)
        result.textRouting = textIndex.info
        return result
    }

    /// Applies reloaded settings to text routing (SIGHUP): a changed `text-embedder` or `minilm-dir`
    /// (or a MiniLM that could not be loaded before) loads the embedder and re-embeds every task, in
    /// the background; `route.text` waits for it.
    public func reloadTextRouting(_ settings: DaemonSettings) {
        textIndex.configure(kind: settings.textEmbedder, minilmDirectory: settings.minilmDirectory)
    }

    /// What `route` answers for `task`; nil when the current generation does not serve it (or it was
    /// removed since the text was routed).
    func servedRoute(of task: String) throws -> RouteResult? {
        do {
            return try route(RouteParams(task: task))
        } catch let error as ReadError where error.code == .taskNotInstalled || error.code == .taskNotServed {
            return nil
        } catch let error as StoreError where error.code == .taskNotFound {
            return nil
        }
    }
}
