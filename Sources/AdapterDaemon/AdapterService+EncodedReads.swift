import AdapterProtocol
import Foundation

/// `route`, `list` and `status` answered as JSON text built mostly from the parts the snapshot
/// encoded when it was made (ServedSnapshot.swift, `EncodedReads`), instead of encoding the whole
/// result per request. The bytes are exactly those of the typed results (`route`, `list`,
/// `statusWithTextRouting`), which remain the reference and the fallback.
extension AdapterService {
    func encodedRoute(_ params: RouteParams) throws -> Data {
        if params.text == nil, let name = params.task,
           let encoded = try readSnapshot().encoded.routes[name] {
            return encoded
        }
        return try JSONCoding.sharedEncoder.encode(route(params))
    }

    func encodedList() throws -> Data {
        let snapshot = try readSnapshot()
        let encoder = JSONCoding.sharedEncoder
        guard let tasks = snapshot.encoded.tasks else {
            return try encoder.encode(ListResult(tasks: snapshot.tasks, generation: snapshot.generation,
                                                 budget: budgetStatus(snapshot)))
        }
        // Sorted keys put `tasks` last: `{"budget":…,"generation":…,"tasks":[]}` with the list put in.
        var bytes = try encoder.encode(ListResult(tasks: [], generation: snapshot.generation, budget: budgetStatus(snapshot)))
        let emptyTail = Data(#""tasks":[]}"#.utf8)
        guard bytes.count >= emptyTail.count, bytes.suffix(emptyTail.count).elementsEqual(emptyTail) else {
            return try encoder.encode(ListResult(tasks: snapshot.tasks, generation: snapshot.generation,
                                                 budget: budgetStatus(snapshot)))
        }
        bytes.removeLast(3)
        bytes.append(tasks)
        bytes.append(UInt8(ascii: "}"))
        return bytes
    }

    func encodedStatus(_ context: RequestContext) throws -> Data {
        let snapshot = try readSnapshot()
        var result = status(context, snapshot: snapshot)
        result.textRouting = textIndex.info
        let encoder = JSONCoding.sharedEncoder
        guard let served = result.served, let servedJSON = snapshot.encoded.served(reclustering: served.reclustering) else {
            return try encoder.encode(result)
        }
        // Sorted keys put `served` right before `socketActivated`, which is always present; no member
        // before it holds an object with that key, and a string cannot hold its unescaped quotes.
        result.served = nil
        var bytes = try encoder.encode(result)
        guard let next = bytes.firstRange(of: Data(#","socketActivated":"#.utf8)) else {
            result.served = served
            return try encoder.encode(result)
        }
        bytes.replaceSubrange(next.lowerBound..<next.lowerBound, with: Data(#","served":"#.utf8) + servedJSON)
        return bytes
    }
}
