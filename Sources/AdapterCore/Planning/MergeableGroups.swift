/// Splits tasks into the groups the planner may merge within: tasks of one base model whose adapters
/// adapt different module sets (query+value, query+key+value+output, …) are one group, each adapter
/// padded to the union of the group's modules with exact zeros (`ModuleUnionPadding`), so that a q+v
/// task and a q+k+v+o task can share one merged adapter (which then pays for the union's modules in
/// bytes); a merge that serves only q+v tasks still leaves the other modules out.
///
/// Padding is only sound when every module name has one shape across the base model's tasks and no
/// fused module is adapted by some tasks only; where it is not, those tasks stay in groups of one
/// exact profile (base model + module names and shapes), joined with others only where padding them
/// together is sound. Groups keep the order in which
/// their first task appears, and tasks their given order within a group.
public enum MergeableGroups {
    /// One group: the indices (into the tasks given) of its members and their profiles, padded when
    /// the group mixes module sets.
    public struct Group: Sendable {
        public let indices: [Int]
        public let tasks: [TaskProfile]
        /// True when the members' module sets differ and the adapters were padded to their union.
        public let padded: Bool
    }

    /// Groups of one exact profile each (base model + module names and shapes), never padded: the
    /// grouping before module sets were joined, which the planner also tries (merging across module
    /// sets pays for the union's modules, and k-medoids over the union does not always find clusters
    /// worth that).
    public static func exactProfiles(_ tasks: [TaskProfile]) -> [Group] {
        var order: [String] = []
        var byProfile: [String: [Int]] = [:]
        for (index, task) in tasks.enumerated() {
            let key = (task.adapter.config.baseModelNameOrPath ?? "") + "|" + layoutKey(task.adapter)
            if byProfile[key] == nil { order.append(key) }
            byProfile[key, default: []].append(index)
        }
        return order.map { key in
            let members = byProfile[key] ?? []
            return Group(indices: members, tasks: members.map { tasks[$0] }, padded: false)
        }
    }

    /// The groups of `tasks`.
    public static func form(_ tasks: [TaskProfile]) -> [Group] {
        var baseOrder: [String] = []
        var byBase: [String: [Int]] = [:]
        for (index, task) in tasks.enumerated() {
            let base = task.adapter.config.baseModelNameOrPath ?? ""
            if byBase[base] == nil { baseOrder.append(base) }
            byBase[base, default: []].append(index)
        }
        var groups: [Group] = []
        for base in baseOrder {
            let indices = byBase[base] ?? []
            let members = indices.map { tasks[$0] }
            let layouts = Set(members.map { layoutKey($0.adapter) })
            if layouts.count == 1 {
                groups.append(Group(indices: indices, tasks: members, padded: false))
            } else if let padded = try? ModuleUnionPadding.pad(members) {
                groups.append(Group(indices: indices, tasks: padded, padded: true))
            } else {
                groups += joinedProfiles(indices, tasks: tasks)
            }
        }
        return groups
    }

    /// The base model's exact profiles joined greedily, in order of first appearance: each joins the
    /// first union it pads soundly with, or starts a new one.
    static func joinedProfiles(_ indices: [Int], tasks: [TaskProfile]) -> [Group] {
        var order: [String] = []
        var byLayout: [String: [Int]] = [:]
        for index in indices {
            let key = layoutKey(tasks[index].adapter)
            if byLayout[key] == nil { order.append(key) }
            byLayout[key, default: []].append(index)
        }
        var unions: [[Int]] = []
        for key in order {
            let members = byLayout[key] ?? []
            if let u = unions.firstIndex(where: { (try? ModuleUnionPadding.pad(($0 + members).map { tasks[$0] })) != nil }) {
                unions[u] += members
            } else {
                unions.append(members)
            }
        }
        return unions.map { members in
            let sorted = members.sorted()
            let profiles = sorted.map { tasks[$0] }
            let layouts = Set(profiles.map { layoutKey($0.adapter) })
            if layouts.count > 1, let padded = try? ModuleUnionPadding.pad(profiles) {
                return Group(indices: sorted, tasks: padded, padded: true)
            }
            return Group(indices: sorted, tasks: profiles, padded: false)
        }
    }

    /// Module names and shapes, in a canonical order.
    static func layoutKey(_ adapter: LoRAAdapter) -> String {
        adapter.modules.map { "\($0.name):\($0.outFeatures)x\($0.inFeatures)" }.sorted().joined(separator: ";")
    }
}
