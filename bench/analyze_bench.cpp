// SPDX-License-Identifier: MIT
// Frame analyzer micro-benchmark: every labeled photo of ../shared/data/faces is fitted into
// a 640x480 frame (scaled to fit, black borders) and encoded as JPEG (quality 85), as a
// webcam client would send it; then one analyzer on one thread (pinned by the caller)
// analyzes every frame ROUNDS times through the C API (engagement.h), decoding included.
// Prints one line: bench=analyze frames_per_s_per_core=... p50/p99 for frames with a face
// and without, frames per second of the thread's own CPU time, and the share of the
// machine's CPU ticks the hypervisor stole during the run. C++ only for OpenCV's resize/encode of the inputs; the analysis is the
// broker's own entry point.
#include "engagement.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct Frame {
    std::string name;
    int faces;
    std::vector<uint8_t> jpeg;
};

double pct(std::vector<double> v, double q)
{
    if (v.empty())
        return 0;
    std::sort(v.begin(), v.end());
    size_t i = static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
    return v[i];
}

std::vector<Frame> load(const std::string &dir)
{
    std::vector<Frame> out;
    std::ifstream f(dir + "/labels.csv");
    std::string line;
    std::getline(f, line); // header
    while (std::getline(f, line)) {
        std::stringstream ss(line);
        std::string file, faces;
        std::getline(ss, file, ',');
        std::getline(ss, faces, ',');
        cv::Mat img = cv::imread(dir + "/" + file, cv::IMREAD_COLOR);
        if (img.empty())
            continue;
        double s = std::min(640.0 / img.cols, 480.0 / img.rows);
        cv::Mat scaled;
        cv::resize(img, scaled, cv::Size(), s, s, s < 1 ? cv::INTER_AREA : cv::INTER_LINEAR);
        cv::Mat frame(480, 640, CV_8UC3, cv::Scalar(0, 0, 0));
        scaled.copyTo(frame(cv::Rect((640 - scaled.cols) / 2, (480 - scaled.rows) / 2,
                                     scaled.cols, scaled.rows)));
        Frame fr;
        fr.name = file;
        fr.faces = std::atoi(faces.c_str());
        cv::imencode(".jpg", frame, fr.jpeg, {cv::IMWRITE_JPEG_QUALITY, 85});
        out.push_back(std::move(fr));
    }
    return out;
}

// The machine's "cpu" line of /proc/stat: all ticks and the stolen ones (time the
// hypervisor gave to someone else), to tell a slow run on a busy host from a slow analyzer.
bool cpu_ticks(unsigned long long &total, unsigned long long &steal)
{
    std::ifstream f("/proc/stat");
    std::string name;
    unsigned long long v[8] = {0};
    if (!(f >> name) || name != "cpu")
        return false;
    total = 0;
    for (int i = 0; i < 8 && (f >> v[i]); i++)
        total += v[i];
    steal = v[7];
    return true;
}

double thread_cpu_s()
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

} // namespace

int main(int argc, char **argv)
{
    // analyze_bench [PHOTO_DIR [ROUNDS [WRITE_FRAME]]]: WRITE_FRAME receives the 640x480
    // JPEG of the first photo with one face looking at the camera (bench/run.sh sends it as
    // every student's frame in the frames scenario).
    std::string dir = argc > 1 ? argv[1] : "../shared/data/faces";
    int rounds = argc > 2 ? std::atoi(argv[2]) : 3;
    std::vector<Frame> frames = load(dir);
    if (frames.empty()) {
        std::fprintf(stderr, "analyze_bench: no photos in %s\n", dir.c_str());
        return 1;
    }
    if (argc > 3) {
        for (const Frame &f : frames) {
            if (f.name.rfind("aflw2000_", 0) != 0 || f.faces != 1)
                continue;
            std::ofstream out(argv[3], std::ios::binary);
            out.write(reinterpret_cast<const char *>(f.jpeg.data()),
                      static_cast<std::streamsize>(f.jpeg.size()));
            break;
        }
    }
    char err[256];
    eng_models_t *m = eng_models_load(nullptr, err, sizeof err);
    eng_analyzer_t *a = m ? eng_analyzer_new(m, nullptr, err, sizeof err) : nullptr;
    eng_models_unref(m); // the analyzer holds its own reference
    if (!a) {
        std::fprintf(stderr, "analyze_bench: %s (set ROLLCALL_MODEL_DIR)\n", err);
        return 1;
    }
    eng_result_t r;
    eng_analyze(a, frames[0].jpeg.data(), frames[0].jpeg.size(), &r); // warm-up

    std::vector<double> with_face, without, all;
    size_t bytes = 0;
    unsigned long long tot0 = 0, st0 = 0, tot1 = 0, st1 = 0;
    const bool ticks = cpu_ticks(tot0, st0);
    const double cpu0 = thread_cpu_s();
    auto t0 = std::chrono::steady_clock::now();
    for (int k = 0; k < rounds; k++) {
        for (const Frame &f : frames) {
            auto s = std::chrono::steady_clock::now();
            int rc = eng_analyze(a, f.jpeg.data(), f.jpeg.size(), &r);
            double ms = std::chrono::duration<double, std::milli>(
                            std::chrono::steady_clock::now() - s)
                            .count();
            if (rc != 0) {
                std::fprintf(stderr, "analyze_bench: %s: %s\n", f.name.c_str(),
                             eng_strerror(rc));
                continue;
            }
            (f.faces > 0 ? with_face : without).push_back(ms);
            all.push_back(ms);
            bytes += f.jpeg.size();
        }
    }
    double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double cpu_secs = thread_cpu_s() - cpu0;
    const bool ticks1 = ticks && cpu_ticks(tot1, st1) && tot1 > tot0;
    eng_analyzer_free(a);
    std::printf("bench=analyze frames=%zu photos=%zu rounds=%d size=640x480 mean_jpeg_kb=%.1f "
                "frames_per_s_per_core=%.1f face_frames=%zu face_p50_ms=%.2f face_p99_ms=%.2f "
                "noface_frames=%zu noface_p50_ms=%.2f noface_p99_ms=%.2f all_p50_ms=%.2f "
                "all_p99_ms=%.2f all_max_ms=%.2f frames_per_cpu_s=%.1f steal_pct=%.1f\n",
                all.size(), frames.size(), rounds,
                all.empty() ? 0.0 : static_cast<double>(bytes) / all.size() / 1024.0,
                static_cast<double>(all.size()) / secs, with_face.size(), pct(with_face, 0.5),
                pct(with_face, 0.99), without.size(), pct(without, 0.5), pct(without, 0.99),
                pct(all, 0.5), pct(all, 0.99), pct(all, 1.0),
                cpu_secs > 0 ? static_cast<double>(all.size()) / cpu_secs : 0.0,
                ticks1 ? 100.0 * static_cast<double>(st1 - st0) / static_cast<double>(tot1 - tot0) : -1.0);
    return 0;
}
