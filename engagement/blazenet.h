// SPDX-License-Identifier: MIT
// A small CPU inference engine for BlazeFace-style ONNX graphs, inside the C++ island (not
// part of the C API). It reads the ONNX file itself (protobuf wire format), accepts only the
// operators those graphs use (Conv: full, depthwise and 1x1; Relu; Add; MaxPool 2x2;
// zero-channel padding as ConstantOfShape + Concat; the layout Transposes and the output
// Reshapes) and refuses anything else at load time, naming the node.
//
// Why not cv::dnn: on one core it runs the front model in ~6 ms and the back model in ~23 ms
// at 640x480 input on this project's machines, a third of that in residual Adds and layout
// copies between NCHW layers. Here every tensor stays NHWC with its channels padded to a
// multiple of 8 (pad channels hold zeros), so 1x1 and depthwise convolutions are straight
// AVX2 FMA loops over channels, Relu is fused into the layer before it, and buffers are
// reused by liveness. Results agree with cv::dnn to float rounding (tests/unit/blazenet_test).
//
// Two classes, so that one loaded model serves every worker thread:
//  - Model: the planned graph and its weights. Immutable once load() returned, so any number
//    of Nets on any threads may read it at once (shared through std::shared_ptr<const Model>).
//  - Net: one runner of a Model with its own activation buffers (1.4 MB for the front model,
//    3.4 MB for the back one). forward() writes them: one Net per thread.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace eng_nn {

class Model {
public:
    ~Model();
    Model(const Model &) = delete;
    Model &operator=(const Model &) = delete;
    // Loads the graph and its weights. Throws std::runtime_error saying what is unsupported.
    static std::shared_ptr<const Model> load(const std::string &path);
    // The graph input, NHWC: height x width x channels.
    int in_h() const;
    int in_w() const;
    int in_c() const;
    // Bytes of activation buffers each Net of this model allocates.
    size_t activation_bytes() const;

private:
    Model();
    struct Impl;
    std::unique_ptr<Impl> d_;
    friend class Net;
};

class Net {
public:
    Net();
    // A runner of model (shared; never written through this Net).
    explicit Net(std::shared_ptr<const Model> model);
    ~Net();
    Net(const Net &) = delete;
    Net &operator=(const Net &) = delete;
    Net(Net &&) noexcept;
    Net &operator=(Net &&) noexcept;
    // Loads a model of its own: Net(Model::load(path)). Throws as Model::load.
    void load(const std::string &path);
    bool loaded() const;
    const std::shared_ptr<const Model> &model() const { return model_; }
    int in_h() const;
    int in_w() const;
    int in_c() const;
    // The graph input, NHWC: height x width x channels floats, written by the caller.
    float *input();
    void forward();
    // A graph output by name, in the ONNX graph's element order; nullptr if unknown.
    // Valid until the next forward().
    const float *output(const std::string &name, size_t *count);

private:
    std::shared_ptr<const Model> model_;
    struct Scratch;
    std::unique_ptr<Scratch> s_;
};

} // namespace eng_nn
