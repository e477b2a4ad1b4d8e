/// Feature means and standard deviations of benign adapters, per base-model profile and rank, used to
/// express a candidate's features as z-scores against adapters like it (as the weight-space detection
/// paper does). Learned from the benign adapters of a training set only.
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
    }

    public var groups: [Group]
    /// Fewest adapters a rank group needs to be used; smaller groups fall back to the profile group.
    public var minimumGroupSize: Int

    public init(groups: [Group], minimumGroupSize: Int) {
        self.groups = groups
        self.minimumGroupSize = minimumGroupSize
    }

    /// Builds groups for every profile (all ranks) and every (profile, rank) with at least
    /// `minimumGroupSize` benign rows. A rank group's standard deviation is floored at a quarter of its
    /// profile group's, so a small group of near-identical adapters cannot produce huge z-scores.
    public init(rows: [[Double]], profiles: [String], ranks: [Int], minimumGroupSize: Int = 3) {
        self.minimumGroupSize = minimumGroupSize
        var groups: [Group] = []
        let profileKeys = Array(Set(profiles)).sorted()
        for key in profileKeys {
            let members = rows.indices.filter { profiles[$0] == key }
            guard members.count >= 2 else { continue }
            let all = FeatureStandardizer(fitting: members.map { rows[$0] })
            groups.append(Group(profile: key, rank: nil, count: members.count, means: all.means, stds: all.stds))
            for rank in Array(Set(members.map { ranks[$0] })).sorted() {
                let inRank = members.filter { ranks[$0] == rank }
                guard inRank.count >= minimumGroupSize else { continue }
                let s = FeatureStandardizer(fitting: inRank.map { rows[$0] })
                let stds = zip(s.stds, all.stds).map { max($0, 0.25 * $1) }
                groups.append(Group(profile: key, rank: rank, count: inRank.count, means: s.means, stds: stds))
            }
        }
        self.groups = groups
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
