/// Feature means and standard deviations of benign adapters, per base-model profile and rank, used to
/// express a candidate's features as z-scores against adapters like it (as the weight-space detection
/// paper does). Learned from the benign adapters of a training set only (AdapterTraining's
/// `init(rows:profiles:ranks:minimumGroupSize:)`).
public struct BenignBank: Sendable, Equatable, Codable {
    /// Statistics of one group of benign adapters.
    public struct Group: Sendable, Equatable, Codable {
        /// `AdapterProfile.key`.
        public var profile: String
        /// The LoRA rank of the group, or nil for all ranks of the profile.
        public var rank: Int?
        public var count: Int
        public var means: [Double]
        public var stds: [Double]

        public init(profile: String, rank: Int?, count: Int, means: [Double], stds: [Double]) {
            self.profile = profile
            self.rank = rank
            self.count = count
            self.means = means
            self.stds = stds
        }
    }

    public var groups: [Group]
    /// Fewest adapters a rank group needs to be used; smaller groups fall back to the profile group.
    public var minimumGroupSize: Int

    public init(groups: [Group], minimumGroupSize: Int) {
        self.groups = groups
        self.minimumGroupSize = minimumGroupSize
    }

    /// The group used for an adapter: its (profile, rank) group if present, else its profile group.
    public func group(profile: String, rank: Int) -> Group? {
        groups.first { $0.profile == profile && $0.rank == rank } ?? groups.first { $0.profile == profile && $0.rank == nil }
    }

    /// z-scores of `values` against the adapter's group, or nil when the bank has no group for the profile.
    public func normalise(_ values: [Double], profile: String, rank: Int) -> [Double]? {
        guard let g = group(profile: profile, rank: rank), g.means.count == values.count else { return nil }
        return values.indices.map { (values[$0] - g.means[$0]) / g.stds[$0] }
    }
}
