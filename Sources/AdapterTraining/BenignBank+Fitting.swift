import AdapterCore

/// Fitting a benign bank to the benign adapters of a training set.
extension BenignBank {
    /// Builds groups for every profile (all ranks) and every (profile, rank) with at least
    /// `minimumGroupSize` benign rows. A rank group's standard deviation is floored at a quarter of its
    /// profile group's, so a small group of near-identical adapters cannot produce huge z-scores.
    public init(rows: [[Double]], profiles: [String], ranks: [Int], minimumGroupSize: Int = 3) {
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
        self.init(groups: groups, minimumGroupSize: minimumGroupSize)
    }
}
