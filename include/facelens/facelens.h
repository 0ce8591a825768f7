// facelens — the one header to include.
//
//   #include <facelens/facelens.h>
//   facelens::EngineOptions opt;
//   opt.models_dir = "models";   // the folder with manifest.json (required)
//   auto engine = facelens::Engine::create(opt);
//
// See engine.h (pipeline), image.h (decoding), gallery.h (enrolled people as vectors),
// recognition.h (engine + gallery: enrol, identify, verify photos), calibration.h (match
// thresholds from scored pairs), models.h (model inspection), convert.h (float16, int8 and
// dynamic-batch variants of a model, with their drift), benchmark.h (`facelens bench`),
// runtime_info.h (ONNX Runtime and providers), status.h (errors) and types.h (faces, boxes).
#pragma once

#include "facelens/benchmark.h"
#include "facelens/calibration.h"
#include "facelens/config.h"
#include "facelens/convert.h"
#include "facelens/engine.h"
#include "facelens/gallery.h"
#include "facelens/image.h"
#include "facelens/models.h"
#include "facelens/recognition.h"
#include "facelens/runtime_info.h"
#include "facelens/runtime_options.h"
#include "facelens/status.h"
#include "facelens/types.h"
#include "facelens/version.h"
