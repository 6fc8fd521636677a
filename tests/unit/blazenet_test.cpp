// SPDX-License-Identifier: MIT
// The analyzer's own BlazeFace engine (engagement/blazenet.h) against OpenCV's cv::dnn
// running the same ONNX files: on random inputs and on real photos letterboxed as the
// analyzer does, every output must agree to float rounding. Also: a truncated or corrupted
// model file is refused with an exception (never a crash or an out-of-bounds read, which the
// sanitizer build would report). And the island's integer-factor area resize must give
// exactly cv::resize's pixels. Nets sharing one Model on two threads at once compute exactly
// what a Net alone does. C++ because it drives the C++ island's internal classes and
// cv::dnn; the summary line matches the C tests'.
#include "area_resize.h"
#include "blazenet.h"

#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

namespace {

struct Failure : std::runtime_error {
    using std::runtime_error::runtime_error;
};

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            throw Failure(std::string(__FILE__ ":") + std::to_string(__LINE__) + ": " #c);         \
    } while (0)

const char *const NAMES[4] = {"Identity:0", "Identity_1:0", "Identity_2:0", "Identity_3:0"};

std::string model_dir()
{
    const char *d = std::getenv("ROLLCALL_MODEL_DIR");
    return d ? d : "models";
}

std::string faces_dir()
{
    const char *d = std::getenv("ROLLCALL_FACES_DIR");
    if (d)
        return d;
    const char *t = std::getenv("ROLLCALL_TEST_DATA"); // <root>/tests
    return std::string(t ? t : "tests") + "/../../shared/data/faces";
}

bool exists(const std::string &p)
{
    std::ifstream f(p);
    return (bool)f;
}

// Runs both engines on the same NHWC input; returns the largest difference relative to
// max(1, |reference|) over all four outputs.
double compare(eng_nn::Net &mine, cv::dnn::Net &ref, const cv::Mat &nhwc)
{
    const int S = mine.in_h();
    int sz[4] = {1, S, S, 3};
    cv::Mat blob(4, sz, CV_32F, const_cast<float *>(nhwc.ptr<float>()));
    ref.setInput(blob);
    std::vector<cv::Mat> outs;
    ref.forward(outs, std::vector<cv::String>(NAMES, NAMES + 4));
    std::memcpy(mine.input(), nhwc.ptr<float>(), sizeof(float) * (size_t)S * S * 3);
    mine.forward();
    double worst = 0;
    for (int k = 0; k < 4; k++) {
        size_t n = 0;
        const float *o = mine.output(NAMES[k], &n);
        CHECK(o != nullptr);
        CHECK(n == outs[(size_t)k].total());
        const float *r = outs[(size_t)k].ptr<float>();
        for (size_t i = 0; i < n; i++)
            worst = std::max(worst, std::fabs((double)o[i] - r[i]) / std::max(1.0, std::fabs((double)r[i])));
    }
    return worst;
}

// A photo letterboxed into S x S and scaled to [-1, 1] RGB, as the analyzer feeds it.
cv::Mat letterbox(const cv::Mat &bgr, int S)
{
    const int side = std::max(bgr.cols, bgr.rows);
    cv::Mat sq(side, side, CV_8UC3, cv::Scalar::all(0));
    bgr.copyTo(sq(cv::Rect(0, 0, bgr.cols, bgr.rows)));
    cv::Mat small, rgb, f;
    cv::resize(sq, small, cv::Size(S, S), 0, 0, cv::INTER_AREA);
    cv::cvtColor(small, rgb, cv::COLOR_BGR2RGB);
    rgb.convertTo(f, CV_32FC3, 1.0 / 127.5, -1.0);
    return f;
}

void test_models_match_cv_dnn()
{
    const char *files[2] = {"face_detection_front_128x128_barracuda.onnx", "face_detection_back_256x256_barracuda.onnx"};
    std::vector<std::string> photos;
    {
        std::ifstream labels(faces_dir() + "/labels.csv");
        std::string line;
        std::getline(labels, line);
        while (std::getline(labels, line) && photos.size() < 12)
            photos.push_back(faces_dir() + "/" + line.substr(0, line.find(',')));
    }
    CHECK(photos.size() == 12);
    for (const char *file : files) {
        const std::string path = model_dir() + "/" + file;
        eng_nn::Net mine;
        mine.load(path);
        CHECK(mine.in_w() == mine.in_h() && mine.in_c() == 3);
        cv::dnn::Net ref = cv::dnn::readNetFromONNX(path);
        const int S = mine.in_h();
        double worst = 0;
        cv::RNG rng(42);
        for (int i = 0; i < 3; i++) {
            cv::Mat x(S, S, CV_32FC3);
            rng.fill(x, cv::RNG::UNIFORM, -1.0, 1.0);
            worst = std::max(worst, compare(mine, ref, x));
        }
        int used = 0;
        for (const std::string &p : photos) {
            cv::Mat img = cv::imread(p, cv::IMREAD_COLOR);
            if (img.empty())
                continue;
            worst = std::max(worst, compare(mine, ref, letterbox(img, S)));
            used++;
        }
        CHECK(used >= 10);
        std::printf("  %s: largest relative difference to cv::dnn %.2e over 3 random inputs and %d photos\n",
                    file, worst, used);
        CHECK(worst < 1e-3);
    }
}

// Two Nets over one Model (the weights the analyzers share), each on its own thread and on
// its own input, forward many times at once; every output must be bit-identical to that of
// a Net alone on the same input: the activations are each Net's own, the Model is only read.
void test_nets_share_a_model()
{
    const char *files[2] = {"face_detection_front_128x128_barracuda.onnx", "face_detection_back_256x256_barracuda.onnx"};
    for (const char *file : files) {
        const std::shared_ptr<const eng_nn::Model> model = eng_nn::Model::load(model_dir() + "/" + file);
        CHECK(model->activation_bytes() > 0);
        const int S = model->in_h();
        const size_t in_n = (size_t)S * model->in_w() * model->in_c();
        cv::RNG rng(7);
        std::vector<float> x[2];
        std::vector<std::vector<float>> want[2];
        eng_nn::Net alone(model);
        for (int k = 0; k < 2; k++) {
            x[k].resize(in_n);
            cv::Mat xm(1, (int)in_n, CV_32F, x[k].data());
            rng.fill(xm, cv::RNG::UNIFORM, -1.0, 1.0);
            std::copy(x[k].begin(), x[k].end(), alone.input());
            alone.forward();
            for (const char *name : NAMES) {
                size_t n = 0;
                const float *o = alone.output(name, &n);
                CHECK(o && n > 0);
                want[k].emplace_back(o, o + n);
            }
        }
        eng_nn::Net nets[2] = {eng_nn::Net(model), eng_nn::Net(model)};
        CHECK(nets[0].model() == nets[1].model() && nets[0].input() != nets[1].input());
        int mismatches[2] = {0, 0};
        auto run = [&](int k) {
            for (int round = 0; round < 30; round++) {
                std::copy(x[k].begin(), x[k].end(), nets[k].input());
                nets[k].forward();
                for (size_t i = 0; i < 4; i++) {
                    size_t n = 0;
                    const float *o = nets[k].output(NAMES[i], &n);
                    if (!o || n != want[k][i].size() || std::memcmp(o, want[k][i].data(), n * sizeof(float)) != 0)
                        mismatches[k]++;
                }
            }
        };
        std::thread t0(run, 0), t1(run, 1);
        t0.join();
        t1.join();
        std::printf("  %s: %zu KB of activations per Net, 2 x 30 forwards on one shared Model, %d different outputs\n",
                    file, model->activation_bytes() / 1024, mismatches[0] + mismatches[1]);
        CHECK(mismatches[0] == 0 && mismatches[1] == 0);
    }
}

void test_corrupt_models_refused()
{
    const std::string path = model_dir() + "/face_detection_front_128x128_barracuda.onnx";
    std::ifstream in(path, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(bytes.size() > 1000);
    const std::string tmp = std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") +
                            "/blazenet_test_" + std::to_string(::getpid()) + ".onnx";
    int refused = 0, tries = 0;
    auto try_load = [&](const std::string &data) {
        {
            std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
            out.write(data.data(), (std::streamsize)data.size());
        }
        tries++;
        eng_nn::Net n;
        try {
            n.load(tmp);
        } catch (const std::runtime_error &) {
            refused++;
            return;
        }
        // What loads must also run: the planner checked every shape it relies on.
        std::fill(n.input(), n.input() + (size_t)n.in_h() * n.in_w() * n.in_c(), 0.5f);
        n.forward();
    };
    // Truncations at many lengths: every one cuts the graph short and must be refused.
    for (size_t len = 0; len < bytes.size(); len += bytes.size() / 97 + 1)
        try_load(bytes.substr(0, len));
    CHECK(refused == tries);
    // Random byte flips: refused, or loaded and run, but never a crash (the sanitizer build
    // checks).
    cv::RNG rng(7);
    for (int i = 0; i < 200; i++) {
        std::string b = bytes;
        for (int k = 0; k < 4; k++)
            b[(size_t)rng.uniform(0, (int)b.size())] = (char)rng.uniform(0, 256);
        try_load(b);
    }
    std::remove(tmp.c_str());
    std::printf("  %d corrupted files, %d refused\n", tries, refused);
    // A file that is not ONNX at all.
    eng_nn::Net n;
    bool threw = false;
    try {
        n.load(faces_dir() + "/labels.csv");
    } catch (const std::runtime_error &) {
        threw = true;
    }
    CHECK(threw);
}

void test_area_resize_matches_cv_resize()
{
    std::ifstream labels(faces_dir() + "/labels.csv");
    std::string line;
    std::getline(labels, line);
    int frames = 0;
    std::vector<uint16_t> scratch;
    while (std::getline(labels, line)) {
        cv::Mat img = cv::imread(faces_dir() + "/" + line.substr(0, line.find(',')), cv::IMREAD_COLOR);
        if (img.empty())
            continue;
        // As a webcam frame: the photo fitted into 640x480 with black borders.
        const double s = std::min(640.0 / img.cols, 480.0 / img.rows);
        cv::Mat scaled, frame(480, 640, CV_8UC3, cv::Scalar::all(0));
        cv::resize(img, scaled, cv::Size(), s, s, s < 1 ? cv::INTER_AREA : cv::INTER_LINEAR);
        scaled.copyTo(frame(cv::Rect((640 - scaled.cols) / 2, (480 - scaled.rows) / 2, scaled.cols, scaled.rows)));
        for (int k : {4, 5, 8, 16}) {
            cv::Mat ref, mine;
            cv::resize(frame, ref, cv::Size(640 / k, 480 / k), 0, 0, cv::INTER_AREA);
            CHECK(eng_img::area_downscale_int(frame, k, mine, scratch));
            CHECK(mine.size() == ref.size());
            if (cv::norm(ref, mine, cv::NORM_INF) != 0)
                throw Failure("factor " + std::to_string(k) + " differs from cv::resize");
        }
        // The photo itself, cropped to a multiple of 3.
        cv::Mat crop = img(cv::Rect(0, 0, img.cols / 3 * 3, img.rows / 3 * 3)), ref, mine;
        cv::resize(crop, ref, cv::Size(crop.cols / 3, crop.rows / 3), 0, 0, cv::INTER_AREA);
        CHECK(eng_img::area_downscale_int(crop, 3, mine, scratch));
        CHECK(cv::norm(ref, mine, cv::NORM_INF) == 0);
        frames++;
    }
    CHECK(frames >= 100);
    std::printf("  %d photos: identical to cv::resize at factors 3, 4, 5, 8 and 16\n", frames);
    // Refused: a factor that does not divide the sides, 2 (cv::resize rounds it differently),
    // a factor over 16, another type.
    cv::Mat img(480, 640, CV_8UC3, cv::Scalar::all(7)), out;
    CHECK(!eng_img::area_downscale_int(img, 7, out, scratch));
    CHECK(!eng_img::area_downscale_int(img, 2, out, scratch));
    CHECK(!eng_img::area_downscale_int(img, 32, out, scratch));
    CHECK(!eng_img::area_downscale_int(cv::Mat(480, 640, CV_8UC1), 2, out, scratch));
}

// ---- small ONNX graphs written here, run by both engines ----

// Protobuf wire format, just enough for ModelProto.
struct Pbw {
    std::string b;
    void varint(uint64_t v)
    {
        while (v >= 0x80) {
            b.push_back((char)(v | 0x80));
            v >>= 7;
        }
        b.push_back((char)v);
    }
    void key(int field, int wt) { varint((uint64_t)field << 3 | (uint64_t)wt); }
    void bytes(int field, const std::string &v)
    {
        key(field, 2);
        varint(v.size());
        b += v;
    }
    void integer(int field, int64_t v)
    {
        key(field, 0);
        varint((uint64_t)v);
    }
};

std::string tensor(const std::string &name, const std::vector<int64_t> &dims, const std::vector<float> &f,
                   const std::vector<int64_t> &i64 = {})
{
    Pbw t;
    for (int64_t d : dims)
        t.integer(1, d);
    t.integer(2, i64.empty() ? 1 : 7);
    t.bytes(8, name);
    t.bytes(9, i64.empty() ? std::string((const char *)f.data(), f.size() * 4)
                           : std::string((const char *)i64.data(), i64.size() * 8));
    return t.b;
}

std::string ints_attr(const std::string &name, const std::vector<int64_t> &v)
{
    Pbw a;
    a.bytes(1, name);
    for (int64_t x : v)
        a.integer(8, x);
    a.integer(20, 7); // INTS
    return a.b;
}

std::string node(const std::string &op, const std::vector<std::string> &in, const std::string &out,
                 const std::vector<std::string> &attrs = {})
{
    Pbw n;
    for (const std::string &i : in)
        n.bytes(1, i);
    n.bytes(2, out);
    n.bytes(3, out);
    n.bytes(4, op);
    for (const std::string &a : attrs)
        n.bytes(5, a);
    return n.b;
}

std::string value_info(const std::string &name, const std::vector<int64_t> &dims)
{
    Pbw shape, tt, type, vi;
    for (int64_t d : dims) {
        Pbw dim;
        dim.integer(1, d);
        shape.bytes(1, dim.b);
    }
    tt.integer(1, 1);
    tt.bytes(2, shape.b);
    type.bytes(1, tt.b);
    vi.bytes(1, name);
    vi.bytes(2, type.b);
    return vi.b;
}

std::string model(const std::vector<std::string> &nodes, const std::vector<std::string> &inits,
                  const std::string &input, const std::vector<std::pair<std::string, std::vector<int64_t>>> &outs)
{
    Pbw g, m, opset;
    for (const std::string &n : nodes)
        g.bytes(1, n);
    g.bytes(2, "g");
    for (const std::string &t : inits)
        g.bytes(5, t);
    g.bytes(11, input);
    for (const auto &o : outs)
        g.bytes(12, value_info(o.first, o.second));
    opset.integer(2, 11);
    m.integer(1, 7);
    m.bytes(8, opset.b);
    m.bytes(7, g.b);
    return m.b;
}

std::vector<float> randoms(size_t n, cv::RNG &rng)
{
    std::vector<float> v(n);
    for (float &x : v)
        x = (float)rng.uniform(-1.0, 1.0);
    return v;
}

std::string write_tmp(const std::string &bytes, const char *tag)
{
    const std::string p = std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") + "/blazenet_test_" +
                          tag + "_" + std::to_string(::getpid()) + ".onnx";
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), (std::streamsize)bytes.size());
    return p;
}

// Runs one graph (NHWC input [1,H,W,C], outputs read through NCHW->NHWC Transpose and a
// Reshape) in both engines on random input; returns the largest absolute difference.
double run_both(const std::string &bytes, int H, int W, int C, const std::vector<std::string> &out_names, const char *tag)
{
    const std::string path = write_tmp(bytes, tag);
    eng_nn::Net mine;
    mine.load(path);
    cv::dnn::Net ref = cv::dnn::readNetFromONNX(path);
    std::remove(path.c_str());
    CHECK(mine.in_h() == H && mine.in_w() == W && mine.in_c() == C);
    cv::RNG rng(11);
    const std::vector<float> x = randoms((size_t)H * W * C, rng);
    int sz[4] = {1, H, W, C};
    ref.setInput(cv::Mat(4, sz, CV_32F, const_cast<float *>(x.data())));
    std::vector<cv::Mat> outs;
    ref.forward(outs, std::vector<cv::String>(out_names.begin(), out_names.end()));
    std::memcpy(mine.input(), x.data(), x.size() * sizeof(float));
    mine.forward();
    double worst = 0;
    for (size_t k = 0; k < out_names.size(); k++) {
        size_t n = 0;
        const float *o = mine.output(out_names[k], &n);
        CHECK(o != nullptr && n == outs[k].total());
        for (size_t i = 0; i < n; i++)
            worst = std::max(worst, (double)std::fabs(o[i] - outs[k].ptr<float>()[i]));
    }
    return worst;
}

// Whether our engine refuses the model (with the exception load() documents).
bool load_refused(const std::string &bytes, const char *tag)
{
    const std::string path = write_tmp(bytes, tag);
    eng_nn::Net n;
    bool refused = false;
    try {
        n.load(path);
    } catch (const std::runtime_error &) {
        refused = true;
    }
    std::remove(path.c_str());
    return refused;
}

std::string input_vi(int H, int W, int C)
{
    return value_info("x", {1, H, W, C});
}

// The 3 input channels padded to 8 with zeros, as BlazeFace pads channels.
void pad_to_8(std::vector<std::string> &nodes, std::vector<std::string> &inits, int H, int W)
{
    nodes.push_back(node("Transpose", {"x"}, "xt", {ints_attr("perm", {0, 3, 1, 2})}));
    inits.push_back(tensor("zshape", {4}, {}, {1, 5, H, W}));
    nodes.push_back(node("ConstantOfShape", {"zshape"}, "z"));
    nodes.push_back(node("Concat", {"xt", "z"}, "x8", {ints_attr("axis", {1})}));
}

void out_through_nhwc(std::vector<std::string> &nodes, std::vector<std::string> &inits, const std::string &v,
                      const std::string &name, int64_t count)
{
    nodes.push_back(node("Transpose", {v}, v + "_nhwc", {ints_attr("perm", {0, 2, 3, 1})}));
    inits.push_back(tensor(name + "_shape", {3}, {}, {1, count, 1}));
    nodes.push_back(node("Reshape", {v + "_nhwc", name + "_shape"}, name));
}

void test_small_graphs_match_cv_dnn()
{
    cv::RNG rng(5);
    // 1. A depthwise output that is also a graph output: it must not be fused away.
    {
        const int H = 6, W = 6;
        std::vector<std::string> nodes, inits;
        pad_to_8(nodes, inits, H, W);
        inits.push_back(tensor("dw", {8, 1, 3, 3}, randoms(72, rng)));
        nodes.push_back(node("Conv", {"x8", "dw"}, "d",
                             {ints_attr("group", {8}), ints_attr("kernel_shape", {3, 3}), ints_attr("pads", {1, 1, 1, 1})}));
        inits.push_back(tensor("pw", {8, 8, 1, 1}, randoms(64, rng)));
        inits.push_back(tensor("pb", {8}, randoms(8, rng)));
        nodes.push_back(node("Conv", {"d", "pw", "pb"}, "p", {ints_attr("kernel_shape", {1, 1})}));
        out_through_nhwc(nodes, inits, "d", "out_d", H * W * 8);
        out_through_nhwc(nodes, inits, "p", "out_p", H * W * 8);
        const double d = run_both(model(nodes, inits, input_vi(H, W, 3), {{"out_d", {1, H * W * 8, 1}}, {"out_p", {1, H * W * 8, 1}}}),
                                  H, W, 3, {"out_d", "out_p"}, "shared");
        std::printf("  depthwise read by a 1x1 and by an output: largest difference %.1e\n", d);
        CHECK(d < 1e-4);
    }
    // 2. A stride-2 depthwise on an input narrower than its kernel (only the padding column
    //    makes it fit), then a 1x1 and a residual Add of the same shape.
    for (int W : {2, 3, 5}) {
        const int H = 3;
        std::vector<std::string> nodes, inits;
        pad_to_8(nodes, inits, H, W);
        inits.push_back(tensor("dw", {8, 1, 3, 3}, randoms(72, rng)));
        nodes.push_back(node("Conv", {"x8", "dw"}, "d",
                             {ints_attr("group", {8}), ints_attr("kernel_shape", {3, 3}), ints_attr("strides", {2, 2}),
                              ints_attr("pads", {0, 0, 1, 1})}));
        inits.push_back(tensor("pw", {8, 8, 1, 1}, randoms(64, rng)));
        nodes.push_back(node("Conv", {"d", "pw"}, "p", {ints_attr("kernel_shape", {1, 1})}));
        nodes.push_back(node("MaxPool", {"x8"}, "m", {ints_attr("kernel_shape", {2, 2}), ints_attr("strides", {2, 2})}));
        const int oh = (H + 1 - 3) / 2 + 1, ow = (W + 1 - 3) / 2 + 1;
        if (oh != H / 2 || ow != W / 2)
            continue; // the Add needs the pooled shape
        nodes.push_back(node("Add", {"p", "m"}, "a"));
        nodes.push_back(node("Relu", {"a"}, "r"));
        out_through_nhwc(nodes, inits, "r", "out", oh * ow * 8);
        const double d = run_both(model(nodes, inits, input_vi(H, W, 3), {{"out", {1, oh * ow * 8, 1}}}), H, W, 3,
                                  {"out"}, "narrow");
        std::printf("  stride-2 depthwise on a %dx%d input: largest difference %.1e\n", H, W, d);
        CHECK(d < 1e-4);
    }
    // 3. Refused at load, never run: a depthwise convolution of the unpadded 3-channel input,
    //    and a group attribute without a value.
    {
        std::vector<std::string> nodes, inits;
        nodes.push_back(node("Transpose", {"x"}, "xt", {ints_attr("perm", {0, 3, 1, 2})}));
        inits.push_back(tensor("dw", {3, 1, 3, 3}, randoms(27, rng)));
        nodes.push_back(node("Conv", {"xt", "dw"}, "d", {ints_attr("group", {3}), ints_attr("pads", {1, 1, 1, 1})}));
        out_through_nhwc(nodes, inits, "d", "out", 4 * 4 * 3);
        CHECK(load_refused(model(nodes, inits, input_vi(4, 4, 3), {{"out", {1, 48, 1}}}), "unpadded"));
    }
    {
        std::vector<std::string> nodes, inits;
        pad_to_8(nodes, inits, 4, 4);
        inits.push_back(tensor("pw", {8, 8, 1, 1}, randoms(64, rng)));
        nodes.push_back(node("Conv", {"x8", "pw"}, "p", {ints_attr("group", {})}));
        out_through_nhwc(nodes, inits, "p", "out", 4 * 4 * 8);
        CHECK(load_refused(model(nodes, inits, input_vi(4, 4, 3), {{"out", {1, 128, 1}}}), "group"));
    }
}

} // namespace

int main()
{
    if (!exists(model_dir() + "/face_detection_front_128x128_barracuda.onnx")) {
        std::fprintf(stderr, "skip: models not found in %s (engagement/fetch_models.sh)\n", model_dir().c_str());
        return 77;
    }
    cv::setNumThreads(1);
    struct {
        const char *name;
        void (*fn)();
    } tests[] = {{"models_match_cv_dnn", test_models_match_cv_dnn},
                 {"nets_share_a_model", test_nets_share_a_model},
                 {"corrupt_models_refused", test_corrupt_models_refused},
                 {"area_resize_matches_cv_resize", test_area_resize_matches_cv_resize},
                 {"small_graphs_match_cv_dnn", test_small_graphs_match_cv_dnn}};
    int passed = 0, failed = 0;
    for (auto &t : tests) {
        try {
            t.fn();
            std::printf("ok   %s\n", t.name);
            passed++;
        } catch (const std::exception &e) {
            std::printf("FAIL %s: %s\n", t.name, e.what());
            failed++;
        }
    }
    std::printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
