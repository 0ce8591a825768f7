#include "runtime/placement.h"

#include <algorithm>
#include <map>

namespace facelens::runtime {

std::vector<EpPlacement> summarize_placement(std::span<const AssignedNode> nodes) {
  std::map<std::string, EpPlacement> by_ep;
  for (const auto& n : nodes) {
    EpPlacement& p = by_ep[n.ep];
    p.ep = n.ep;
    ++p.n_nodes;
    const bool standard = n.domain.empty() || n.domain == "ai.onnx";
    ++p.op_types[standard ? n.op_type : n.domain + ":" + n.op_type];
  }
  std::vector<EpPlacement> out;
  for (auto& [ep, p] : by_ep) out.push_back(std::move(p));
  std::stable_sort(out.begin(), out.end(),
                   [](const EpPlacement& a, const EpPlacement& b) { return a.n_nodes > b.n_nodes; });
  return out;
}

void merge_placement(std::vector<EpPlacement>* into, std::span<const EpPlacement> more) {
  for (const auto& m : more) {
    auto it = std::find_if(into->begin(), into->end(), [&](const EpPlacement& p) { return p.ep == m.ep; });
    if (it == into->end()) {
      into->push_back(m);
      continue;
    }
    it->n_nodes += m.n_nodes;
    for (const auto& [op, n] : m.op_types) it->op_types[op] += n;
  }
  std::stable_sort(into->begin(), into->end(),
                   [](const EpPlacement& a, const EpPlacement& b) { return a.n_nodes > b.n_nodes; });
}

int nodes_on(std::span<const EpPlacement> placement, const std::string& ep) {
  for (const auto& p : placement)
    if (p.ep == ep) return p.n_nodes;
  return 0;
}

}  // namespace facelens::runtime

namespace facelens {

std::string placement_to_string(std::span<const EpPlacement> placement) {
  std::string s;
  for (const auto& p : placement) {
    if (!s.empty()) s += ", ";
    s += p.ep + " " + std::to_string(p.n_nodes) + (p.n_nodes == 1 ? " node (" : " nodes (");
    std::vector<std::pair<std::string, int>> ops(p.op_types.begin(), p.op_types.end());
    std::stable_sort(ops.begin(), ops.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    for (size_t i = 0; i < ops.size(); ++i) s += (i ? ", " : "") + ops[i].first + " " + std::to_string(ops[i].second);
    s += ")";
  }
  return s;
}

}  // namespace facelens
