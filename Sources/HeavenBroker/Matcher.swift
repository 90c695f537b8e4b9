import Foundation
import HeavenCore
import HeavenModel

/// The two sides of a match: a virtual machine's needs and expressions against a
/// node's attributes, and a site owner's policy and grants against the user.
struct Matcher {
    let now: Date
    let grants: [Grant]
    let grantUses: [String: Set<String>]
    let coreHours: [String: Double]
    let run: String?

    /// How one node kind answers one virtual machine.
    struct NodeAnswer {
        var passed: Int
        var failure: String?
        var rank: Double
    }

    /// Checks, in order, every requirement of `vm` on `node`; counts how far it got.
    func match(_ vm: VirtualMachine, _ node: NodeSpec, site: Site) -> NodeAnswer {
        var passed = 0
        func fail(_ m: String) -> NodeAnswer { NodeAnswer(passed: passed, failure: m, rank: 0) }
        if node.cores < vm.cores { return fail("\(Wording.count(node.cores, "core")) < \(vm.cores) required") }
        passed += 1
        if let want = vm.memory, let have = node.memory, have < want {
            return fail("\(Quantity(have, .bytes)) memory < \(Quantity(want, .bytes)) required")
        }
        passed += 1
        if let want = vm.disk, let have = node.disk, have < want {
            return fail("\(Quantity(have, .bytes)) disk < \(Quantity(want, .bytes)) required")
        }
        passed += 1
        if node.gpus < vm.gpus { return fail("\(node.gpus) GPUs < \(vm.gpus) required") }
        passed += 1
        if let arch = vm.arch, (node.arch ?? "x86_64") != arch {
            return fail("arch \(node.arch ?? "x86_64") ≠ \(arch) required")
        }
        passed += 1
        let missingSoftware = vm.software.filter { !node.software.contains($0) }
        if !missingSoftware.isEmpty { return fail("no software \(missingSoftware.joined(separator: ", "))") }
        passed += 1
        let missingTags = vm.tags.filter { !node.tags.contains($0) }
        if !missingTags.isEmpty { return fail("no tag \(missingTags.joined(separator: ", "))") }
        passed += 1
        let env = DictionaryEnvironment(Matcher.attributes(node, site))
        if let r = vm.requirements {
            do {
                if try !Evaluator.condition(r.tree, in: env) { return fail("requirements `\(r.source)` do not hold") }
            } catch {
                return fail("requirements `\(r.source)`: \(error.message)")
            }
        }
        passed += 1
        var rank = 0.0
        if let r = vm.rank, let v = try? r.evaluate(in: env) {
            switch v {
            case .bool(let b): rank = b ? 1 : 0
            case .quantity(let q): rank = q.value
            default: rank = v.number ?? 0
            }
        }
        return NodeAnswer(passed: passed, failure: nil, rank: rank)
    }

    static func attributes(_ node: NodeSpec, _ site: Site) -> [String: Value] {
        var a = node.attributes
        a["site"] = .string(site.name)
        a["price"] = .double(site.price ?? 0)
        a["availability"] = .double(site.availability ?? 1)
        return a
    }

    /// Whether `who` may run `vm` on the site, and under which grant (nil: the site is theirs).
    func access(_ entry: Catalog.SiteEntry, _ who: Identity, vm: VirtualMachine) -> Result<String?, Reason> {
        let site = entry.site
        if entry.isDown(at: now) { return .failure(Reason("site is down\(entry.downReason.map { " (\($0))" } ?? "")")) }
        let owner = site.owner ?? Principal(.user, entry.registeredBy)
        if who.matches(owner) { return .success(nil) }
        if !site.policy.allow.isEmpty && !site.policy.allow.contains(where: who.matches) {
            return .failure(
                Reason("policy allows only \(site.policy.allow.map(\.description).joined(separator: ", "))"))
        }
        if let r = site.policy.requirements {
            let calendar = Calendar(identifier: .gregorian)
            var utc = calendar
            utc.timeZone = TimeZone(identifier: "UTC")!
            let env = DictionaryEnvironment([
                "user": .string(who.user), "groups": .list(who.groups.map(Value.string)), "cores": .int(vm.cores),
                "memory": .quantity(Quantity(vm.memory ?? 0, .bytes)), "hour": .int(utc.component(.hour, from: now)),
                "weekday": .int(utc.component(.weekday, from: now)),
            ])
            do {
                if try !Evaluator.condition(r.tree, in: env) {
                    return .failure(Reason("policy requirements `\(r.source)` do not hold for \(who.description)"))
                }
            } catch {
                return .failure(Reason("policy requirements `\(r.source)`: \(error.message)"))
            }
        }
        let mine = grants.filter { $0.site == site.name && who.matches($0.to) }
        guard !mine.isEmpty else { return .failure(Reason("no grant for \(who.description) or their groups")) }
        var why: [String] = []
        for g in mine {
            if let problem = invalidity(g, vm: vm) {
                why.append("grant \(g.name) \(problem)")
            } else {
                return .success(g.name)
            }
        }
        return .failure(Reason("no valid grant for \(who.description) (\(why.joined(separator: "; ")))"))
    }

    /// Why a grant cannot serve now, or nil when it can.
    func invalidity(_ g: Grant, vm: VirtualMachine) -> String? {
        if let until = g.until, let end = Matcher.endOfDay(until), end <= now { return "expired on \(until)" }
        if g.once, let users = grantUses[g.name], !users.subtracting(run.map { [$0] } ?? []).isEmpty {
            return "already used"
        }
        if let limit = g.coreHours, let used = coreHours[g.name], used >= limit {
            return "used up: \(Matcher.format(used)) of \(Matcher.format(limit)) core-hours"
        }
        if let cores = g.cores, cores < vm.cores {
            return "allows \(Wording.count(cores, "core")) at once, \(vm.cores) required"
        }
        return nil
    }

    /// The instant a `YYYY-MM-DD` validity ends (midnight UTC after that day).
    static func endOfDay(_ date: String) -> Date? {
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd"
        f.timeZone = TimeZone(identifier: "UTC")
        f.locale = Locale(identifier: "en_US_POSIX")
        return f.date(from: date).map { $0.addingTimeInterval(86400) }
    }

    static func format(_ d: Double) -> String {
        d == d.rounded() ? String(Int(d)) : String(format: "%.2f", d)
    }
}

/// A failed constraint, as a sentence.
struct Reason: Error {
    var text: String
    init(_ text: String) { self.text = text }
}
