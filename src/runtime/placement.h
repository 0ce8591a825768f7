// Where a session's nodes run: ONNX Runtime records, per execution provider, the nodes it was
// given (session option session.record_ep_graph_assignment_info, Session_GetEpGraphAssignmentInfo);
// this turns that record into counts per provider and operator type.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "facelens/runtime_info.h"

namespace facelens::runtime {

// One node of the record: the provider it was assigned to, its domain and operator type.
struct AssignedNode {
  std::string ep;
  std::string domain;  // "" or "ai.onnx" for standard operators
  std::string op_type;
};

// Nodes and operator types per provider; standard operators by type ("Conv"), others as
// "domain:type" ("com.microsoft:FusedConv"). Providers with the most nodes first (ties by name).
std::vector<EpPlacement> summarize_placement(std::span<const AssignedNode> nodes);

// The public facelens::placement_to_string (facelens/runtime_info.h).
using facelens::placement_to_string;

// Adds `more` to `into` (a service of several sessions), keeping the order rule above.
void merge_placement(std::vector<EpPlacement>* into, std::span<const EpPlacement> more);

// Nodes on `ep` (0 when it has none).
int nodes_on(std::span<const EpPlacement> placement, const std::string& ep);

}  // namespace facelens::runtime
