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
// One Net per thread: forward() writes the net's own buffers.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace eng_nn {

class Net {
public:
    Net();
    ~Net();
    Net(const Net &) = delete;
    Net &operator=(const Net &) = delete;
    // Loads the graph and its weights. Throws std::runtime_error saying what is unsupported.
    void load(const std::string &path);
    bool loaded() const;
    // The graph input, NHWC: height x width x channels floats, written by the caller.
    int in_h() const;
    int in_w() const;
    int in_c() const;
    float *input();
    void forward();
    // A graph output by name, in the ONNX graph's element order; nullptr if unknown.
    // Valid until the next forward().
    const float *output(const std::string &name, size_t *count);

private:
    struct Impl;
    std::unique_ptr<Impl> d_;
};

} // namespace eng_nn
