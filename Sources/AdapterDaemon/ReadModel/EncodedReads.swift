import AdapterProtocol
import Foundation

/// `route`, `list` and `status` answered as JSON text built mostly from the parts the snapshot
/// encoded when it was made (ServedSnapshot.swift, `EncodedReads`), instead of encoding the whole
/// result per request. The bytes are exactly those of the typed results (`route`, `list`,
/// `statusWithTextRouting`), which remain the reference and the fallback.
extension ReadModel {
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
                                                 budget: budget.status(snapshot)))
        }
        // Sorted keys put `tasks` last: `{"budget":…,"generation":…,"tasks":[]}` with the list put in.
        var bytes = try encoder.encode(ListResult(tasks: [], generation: snapshot.generation, budget: budget.status(snapshot)))
        let emptyTail = Data(#""tasks":[]}"#.utf8)
        guard bytes.count >= emptyTail.count, bytes.suffix(emptyTail.count).elementsEqual(emptyTail) else {
            return try encoder.encode(ListResult(tasks: snapshot.tasks, generation: snapshot.generation,
                                                 budget: budget.status(snapshot)))
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
        let key = EncodedStatusTemplate.Key(result, snapshot: snapshot.buildID)
        if let template = statusTemplate.withLockedValue({ $0 }), template.key == key,
           let bytes = try? template.fill(peer: result.peer, uptimeSeconds: result.uptimeSeconds) {
            return bytes
        }
        let bytes = try encodeStatus(result, snapshot: snapshot)
        if let template = EncodedStatusTemplate(key: key, encoded: bytes, peer: result.peer, uptimeSeconds: result.uptimeSeconds) {
            statusTemplate.withLockedValue { $0 = template }
        }
        return bytes
    }

    /// `result` encoded, its served set taken from the snapshot's encoded parts.
    private func encodeStatus(_ result: StatusResult, snapshot: ServedSnapshot) throws -> Data {
        var result = result
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

/// `status` as JSON text cut around the two members that change from one request to the next (the
/// caller's `peer` and `uptimeSeconds`), for one set of values of all the others (`Key`). Made from a
/// complete encoding, and only kept when putting that encoding's own peer and uptime back in gives
/// the same bytes.
struct EncodedStatusTemplate: Sendable {
    /// Everything in a status answer except peer and uptime (the snapshot stands for its parts).
    struct Key: Hashable, Sendable {
        var snapshot: UUID
        /// The answer with the members the template leaves to others blanked: peer and uptime (filled
        /// per request) and the served set (the snapshot stands for it, all but `reclustering`). Every
        /// other member is compared as it is, including ones added later.
        var rest: StatusResult
        /// The served set's `reclustering`; nil when nothing is served.
        var reclustering: Bool?

        init(_ result: StatusResult, snapshot: UUID) {
            self.snapshot = snapshot
            reclustering = result.served.map(\.reclustering)
            rest = result
            rest.peer = PeerInfo(uid: 0, gid: 0, pid: 0, mayMutate: false)
            rest.uptimeSeconds = 0
            rest.served = nil
        }
    }

    let key: Key
    /// `{"budget":…,"peer":`
    let beforePeer: Data
    /// `,"pid":…,"uptimeSeconds":`
    let beforeUptime: Data
    /// `,"version":"…"}`
    let end: Data

    init?(key: Key, encoded: Data, peer: PeerInfo, uptimeSeconds: Double) {
        let bytes = [UInt8](encoded)
        // Sorted keys: peer (a flat object) comes after budget, daemon, detector and generation, none
        // of which holds a "peer" member; uptimeSeconds and version are the last two members, and
        // version is the last member of the whole text (served's tasks have "version" members too).
        guard let peerKey = Self.firstRange(of: #""peer":{"#, in: bytes),
              let peerEnd = bytes[peerKey.upperBound...].firstIndex(of: UInt8(ascii: "}")),
              let uptimeKey = Self.lastRange(of: #","uptimeSeconds":"#, in: bytes),
              let versionKey = Self.lastRange(of: #","version":"#, in: bytes),
              peerEnd < uptimeKey.lowerBound, uptimeKey.upperBound <= versionKey.lowerBound else { return nil }
        self.key = key
        beforePeer = Data(bytes[..<(peerKey.upperBound - 1)])
        beforeUptime = Data(bytes[(peerEnd + 1)..<uptimeKey.upperBound])
        end = Data(bytes[versionKey.lowerBound...])
        guard (try? fill(peer: peer, uptimeSeconds: uptimeSeconds)) == encoded else { return nil }
    }

    /// The status text with this peer and uptime.
    func fill(peer: PeerInfo, uptimeSeconds: Double) throws -> Data {
        var data = Data()
        data.reserveCapacity(beforePeer.count + beforeUptime.count + end.count + 96)
        data.append(beforePeer)
        // PeerInfo's members sorted, integers and a Bool: what JSONEncoder writes for it.
        data.append(contentsOf: #"{"gid":\#(peer.gid),"mayMutate":\#(peer.mayMutate),"pid":\#(peer.pid),"uid":\#(peer.uid)}"#.utf8)
        data.append(beforeUptime)
        data.append(try JSONCoding.sharedEncoder.encode(uptimeSeconds))
        data.append(end)
        return data
    }

    static func firstRange(of text: String, in bytes: [UInt8]) -> Range<Int>? {
        let needle = Array(text.utf8)
        guard bytes.count >= needle.count else { return nil }
        for start in 0...(bytes.count - needle.count) where bytes[start..<(start + needle.count)].elementsEqual(needle) {
            return start..<(start + needle.count)
        }
        return nil
    }

    static func lastRange(of text: String, in bytes: [UInt8]) -> Range<Int>? {
        let needle = Array(text.utf8)
        guard bytes.count >= needle.count else { return nil }
        for start in stride(from: bytes.count - needle.count, through: 0, by: -1)
        where bytes[start..<(start + needle.count)].elementsEqual(needle) {
            return start..<(start + needle.count)
        }
        return nil
    }
}
