// facelens — the one header to include.
//
//   #include <facelens/facelens.h>
//   facelens::EngineOptions opt;
//   opt.models_dir = "models";   // the folder with manifest.json (required)
//   auto engine = facelens::Engine::create(opt);
//
// See engine.h (pipeline), image.h (decoding), models.h (model inspection), runtime_info.h
// (ONNX Runtime and providers), status.h (errors) and types.h (faces, boxes).
#pragma once

#include "facelens/config.h"
#include "facelens/engine.h"
#include "facelens/image.h"
#include "facelens/models.h"
#include "facelens/runtime_info.h"
#include "facelens/runtime_options.h"
#include "facelens/status.h"
#include "facelens/types.h"
#include "facelens/version.h"
