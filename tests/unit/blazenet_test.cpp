// SPDX-License-Identifier: MIT
// The analyzer's own BlazeFace engine (engagement/blazenet.h) against OpenCV's cv::dnn
// running the same ONNX files: on random inputs and on real photos letterboxed as the
// analyzer does, every output must agree to float rounding. Also: a truncated or corrupted
// model file is refused with an exception (never a crash or an out-of-bounds read, which the
// sanitizer build would report). And the island's integer-factor area resize must give
// exactly cv::resize's pixels. C++ because it drives the C++ island's internal classes and
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
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
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
                 {"corrupt_models_refused", test_corrupt_models_refused},
                 {"area_resize_matches_cv_resize", test_area_resize_matches_cv_resize}};
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
