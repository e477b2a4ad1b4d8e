/// One method of the adapterd protocol: its wire name, typed params and result, and whether it
/// changes state (and so needs an authorised peer).
public protocol RPCMethod: Sendable {
    associatedtype Params: Codable & Sendable
    associatedtype Result: Codable & Sendable
    static var name: String { get }
    static var mutates: Bool { get }
}

/// Params of a method that takes none: `{}` or absent.
public struct NoParams: Codable, Sendable, Hashable {
    public init() {}
}

/// The methods of protocol version 1 (docs/PROTOCOL.md, "Methods").
public enum Methods {
    /// Daemon health, counts, budget and detector.
    public enum Status: RPCMethod {
        public typealias Params = NoParams
        public typealias Result = StatusResult
        public static let name = "status"
        public static let mutates = false
    }

    /// Screens an adapter and, when accepted, stores it as the new version of a task.
    public enum Install: RPCMethod {
        public typealias Params = InstallParams
        public typealias Result = InstallResult
        public static let name = "install"
        public static let mutates = true
    }

    /// Every installed task.
    public enum List: RPCMethod {
        public typealias Params = NoParams
        public typealias Result = ListResult
        public static let name = "list"
        public static let mutates = false
    }

    /// One task in detail.
    public enum Show: RPCMethod {
        public typealias Params = TaskParams
        public typealias Result = TaskDetail
        public static let name = "show"
        public static let mutates = false
    }

    /// Removes a task; it is no longer served.
    public enum Remove: RPCMethod {
        public typealias Params = TaskParams
        public typealias Result = RemoveResult
        public static let name = "remove"
        public static let mutates = true
    }

    /// The adapter that serves a task in the current generation.
    public enum Route: RPCMethod {
        public typealias Params = RouteParams
        public typealias Result = RouteResult
        public static let name = "route"
        public static let mutates = false
    }

    /// The tasks whose few examples a text most resembles, each with the adapter serving it.
    public enum RouteText: RPCMethod {
        public typealias Params = TextRouteParams
        public typealias Result = TextRouteResult
        public static let name = "route.text"
        public static let mutates = false
    }

    /// Refused adapters.
    public enum QuarantineList: RPCMethod {
        public typealias Params = NoParams
        public typealias Result = QuarantineListResult
        public static let name = "quarantine.list"
        public static let mutates = false
    }

    /// The effective configuration.
    public enum ConfigGet: RPCMethod {
        public typealias Params = NoParams
        public typealias Result = ConfigResult
        public static let name = "config.get"
        public static let mutates = false
    }

    /// Changes the byte budget of the served set (persisted in the state directory).
    public enum BudgetSet: RPCMethod {
        public typealias Params = BudgetSetParams
        public typealias Result = BudgetStatus
        public static let name = "budget.set"
        public static let mutates = true
    }

    /// Plans the served set again (clusters and merges when the tasks' own adapters exceed the
    /// budget) and, unless a dry run, makes it the current generation.
    public enum Recluster: RPCMethod {
        public typealias Params = ReclusterParams
        public typealias Result = PlanResult
        public static let name = "recluster"
        public static let mutates = true
    }

    /// The files of a served adapter (a cluster) of the current generation.
    public enum Export: RPCMethod {
        public typealias Params = ExportParams
        public typealias Result = ExportResult
        public static let name = "export"
        public static let mutates = false
    }

    /// Names of every method of this protocol version, and whether each mutates.
    public static let all: [(name: String, mutates: Bool)] = [
        (Status.name, Status.mutates), (Install.name, Install.mutates), (List.name, List.mutates),
        (Show.name, Show.mutates), (Remove.name, Remove.mutates), (Route.name, Route.mutates),
        (RouteText.name, RouteText.mutates),
        (QuarantineList.name, QuarantineList.mutates), (ConfigGet.name, ConfigGet.mutates),
        (BudgetSet.name, BudgetSet.mutates), (Recluster.name, Recluster.mutates), (Export.name, Export.mutates),
        (Verify.name, Verify.mutates),
        (Metrics.name, Metrics.mutates),
    ]
}

/// Notifications the daemon sends while a request runs.
public enum Notifications {
    /// `progress`: a long operation (install) moved to a new stage; params `ProgressParams`.
    public static let progress = "progress"
}
