// SPDX-License-Identifier: MIT
// The OpenCV/dlib island of the frame analyzer. It owns decoding (after the C header probe
// has vetted the dimensions), face detection, landmarks, head pose and the eye aspect ratio,
// and exposes only the extern "C" functions of engagement.h: every exception stops here.
//
// Pipeline (chosen by measurement on the labeled photos; figures in engagement/README.md):
//   1. MediaPipe BlazeFace front model (128x128, ONNX, run by our own engine in blazenet.cpp:
//      ~1.7 ms against cv::dnn's ~6 ms) on the letterboxed frame finds faces, with six
//      keypoints each.
//   2. When it finds none: the BlazeFace back model (256x256, ~10 ms), made for small faces
//      (groups, people far from the camera); then, still none, the LBP profile cascade on the
//      frame and its mirror, for heads turned far away, kept only where BlazeFace sees at least
//      a weak face. These passes cost time only on frames without an obvious face.
//   3. dlib's HOG detector re-detects on a crop around the main (largest) face, searching
//      only the positions and sizes where BlazeFace's box and keypoints put it (and not at
//      all when the keypoints show a clearly frontal head: the box is then predicted). A HOG box
//      feeds the landmarks. A face HOG rejects is still counted, but when its BlazeFace
//      keypoints show a turned head it is "not looking": landmarks fitted to a profile are
//      unreliable and tend to look frontal.
//   4. dlib's 68-point shape predictor; cv::solvePnP (SQPnP, camera-axes model, so no
//      mirrored solution) gives yaw and pitch; the eye aspect ratio of landmarks 36-47 says
//      whether the eyes are open.
#include "engagement.h"
#include "area_resize.h"
#include "blazenet.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <mutex>
#include <new>
#include <numeric>
#include <string>
#include <vector>

#include <csetjmp>

#include <jpeglib.h>
#include <sys/mman.h>

#include <dlib/image_processing.h>
#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/opencv.h>
#include <opencv2/core.hpp>
#include <opencv2/calib3d.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>

namespace {

const char *const BLAZEFACE_FILE = "face_detection_front_128x128_barracuda.onnx";
const char *const BLAZEFACE_BACK_FILE = "face_detection_back_256x256_barracuda.onnx";
const char *const LANDMARKS_FILE = "shape_predictor_68_face_landmarks.dat";
const char *const PROFILE_FILE = "lbpcascade_profileface.xml";
// A face HOG rejects counts as turned away when its keypoint yaw exceeds this: halfway
// between "looking" (<= 30 degrees) and clearly turned (>= 45).
const double TURNED_KEYPOINT_YAW = 37.5;
// The profile cascade alone fires on textures; a hit is kept only where BlazeFace also sees
// something face-like at this loose score.
const double PROFILE_CONFIRM_SCORE = 0.3;
const char *const SYSTEM_DLIB_DIR = "/usr/share/dlib";
const char *const SYSTEM_CASCADE_DIRS[] = {"/usr/share/opencv4/lbpcascades",
                                           "/usr/share/opencv4/haarcascades"};

struct Det {
    cv::Rect2f box;         // in work-image pixels
    cv::Point2f kp[6];      // right eye, left eye, nose, mouth, right ear, left ear (subject's)
    float score = 0;
    bool has_kp = false;
    bool hog = false;       // HOG confirmed it on the crop
    dlib::rectangle hog_rect;
};

bool file_exists(const std::string &p)
{
    FILE *f = std::fopen(p.c_str(), "rb");
    if (!f)
        return false;
    std::fclose(f);
    return true;
}

std::string find_model(const std::string &dir, const char *name, const char *const *fallbacks,
                       size_t nfallbacks)
{
    if (!dir.empty() && file_exists(dir + "/" + name))
        return dir + "/" + name;
    for (size_t i = 0; i < nfallbacks; i++) {
        std::string p = std::string(fallbacks[i]) + "/" + name;
        if (file_exists(p))
            return p;
    }
    return std::string();
}

float iou(const cv::Rect2f &a, const cv::Rect2f &b)
{
    float inter = (a & b).area();
    float uni = a.area() + b.area() - inter;
    return uni > 0 ? inter / uni : 0.f;
}

// dlib's 68-point shape_predictor, evaluated the same way with its model laid out for the
// memory system. dlib walks each of the 7500 trees (15 cascade levels x 500, depth 4) and adds
// the 136-float leaf it reaches; its leaves are separate heap blocks of a 62 MB model, so every
// tree costs a cache and TLB miss, and the walk's unpredictable branches keep the CPU from
// overlapping them: perf put ~80 % of the predictor's time on the leaf and split loads
// (2.6-3.0 ms per face at 640x480, the same warm or cold; 1.0 ms this way). Here the leaves of
// all levels sit in one array (huge pages where the kernel allows), all 500 leaf indices of a
// level are found first (they depend only on that level's pixel features), and the leaves are
// then added in the same tree order with prefetching. The same float additions in the same
// order, and dlib's own feature extraction and transforms, so the landmarks are bit-identical.
//
// Shared between threads: after load() nothing in it is written; predict() only reads it
// (like dlib's own shape_predictor::operator(), which is const) and keeps its per-call work
// in the caller's Scratch, one per analyzer.
class FastShapePredictor {
public:
    // Per-analyzer working memory of predict().
    struct Scratch {
        std::vector<float> fpv;              // the level's pixel features
        std::vector<const float *> leaf_ptr; // the leaf each tree reaches
    };

    // Reads dlib's serialized shape_predictor (version 1: initial shape, forests, anchor
    // indices, deltas). The forests are read one cascade level at a time and copied into the
    // flat arrays at once: dlib's parsed trees take ~4.5 MB of small heap blocks per level, so
    // parsing all fifteen before copying (as dlib's own deserialize does) would hold ~70 MB
    // of them next to the 62 MB of flat leaves. Every level must have the same number of trees
    // of the same depth, as dlib's trainer makes them (it has one setting for each).
    void load(const std::string &path)
    {
        std::ifstream in(path, std::ios::binary);
        if (!in)
            throw std::runtime_error("cannot open " + path);
        int version = 0;
        dlib::deserialize(version, in);
        if (version != 1)
            throw std::runtime_error("unexpected shape_predictor version in " + path);
        dlib::deserialize(initial_shape, in);
        const size_t dim = (size_t)initial_shape.size();
        if (dim == 0 || dim % 2 != 0)
            throw std::runtime_error("bad initial shape in " + path);
        // dlib writes a std::vector as its length followed by its elements.
        unsigned long nlevels = 0;
        dlib::deserialize(nlevels, in);
        if (nlevels == 0 || nlevels > 1000)
            throw std::runtime_error("unexpected number of cascade levels in " + path);
        levels.assign(nlevels, Level());
        std::vector<dlib::impl::regression_tree> trees;
        size_t ntrees = 0, nsplits = 0;
        for (size_t l = 0; l < nlevels; l++) {
            dlib::deserialize(trees, in);
            if (l == 0) {
                ntrees = trees.size();
                nsplits = trees.empty() ? 0 : trees[0].splits.size();
                if (ntrees == 0 || nsplits > 4095)
                    throw std::runtime_error("unexpected tree shape in " + path);
                splits.resize(nlevels * ntrees * nsplits);
                leaves.reset(nlevels * ntrees * (nsplits + 1) * dim);
            } else if (trees.size() != ntrees) {
                throw std::runtime_error("unexpected tree count in " + path);
            }
            const size_t nleaves = nsplits + 1;
            Level &L = levels[l];
            L.ntrees = ntrees;
            L.nsplits = nsplits;
            L.splits = l * ntrees * nsplits;
            L.leaves = l * ntrees * nleaves * dim;
            for (size_t t = 0; t < ntrees; t++) {
                const auto &tr = trees[t];
                // dlib requires full trees: leaves == splits + 1, a power of two.
                if (tr.splits.size() != nsplits || tr.leaf_values.size() != nleaves ||
                    (nleaves & (nleaves - 1)) != 0)
                    throw std::runtime_error("unexpected tree shape in " + path);
                for (size_t k = 0; k < nsplits; k++) {
                    const auto &sp = tr.splits[k];
                    if (sp.idx1 > UINT32_MAX || sp.idx2 > UINT32_MAX)
                        throw std::runtime_error("bad split feature in " + path);
                    splits[L.splits + t * nsplits + k] = {(uint32_t)sp.idx1, (uint32_t)sp.idx2, sp.thresh};
                }
                for (size_t k = 0; k < nleaves; k++) {
                    if ((size_t)tr.leaf_values[k].size() != dim)
                        throw std::runtime_error("bad leaf size in " + path);
                    std::memcpy(leaves.data() + L.leaves + (t * nleaves + k) * dim,
                                &tr.leaf_values[k](0), dim * sizeof(float));
                }
            }
        }
        trees = std::vector<dlib::impl::regression_tree>();
        dlib::deserialize(anchor_idx, in);
        dlib::deserialize(deltas, in);
        if (anchor_idx.size() != nlevels || deltas.size() != nlevels)
            throw std::runtime_error("bad feature tables in " + path);
        // The split features index the level's pixel features, one per anchor.
        for (size_t l = 0; l < nlevels; l++) {
            const size_t nfeat = anchor_idx[l].size();
            if (deltas[l].size() != nfeat)
                throw std::runtime_error("bad feature tables in " + path);
            for (unsigned long a : anchor_idx[l])
                if (a >= dim / 2)
                    throw std::runtime_error("bad anchor landmark in " + path);
            for (size_t k = 0; k < ntrees * nsplits; k++) {
                const Split &sp = splits[levels[l].splits + k];
                if (sp.idx1 >= nfeat || sp.idx2 >= nfeat)
                    throw std::runtime_error("bad split feature in " + path);
            }
        }
    }

    template <typename image_type>
    dlib::full_object_detection predict(const image_type &img, const dlib::rectangle &rect,
                                        Scratch &s) const
    {
        using namespace dlib::impl;
        dlib::matrix<float, 0, 1> current_shape = initial_shape;
        const size_t dim = (size_t)current_shape.size();
        for (size_t l = 0; l < levels.size(); l++) {
            const Level &L = levels[l];
            extract_feature_pixel_values(img, rect, current_shape, initial_shape, anchor_idx[l],
                                         deltas[l], s.fpv);
            // dlib's tree walk, branch-free: left child when the difference exceeds thresh.
            s.leaf_ptr.resize(L.ntrees);
            const size_t nleaves = L.nsplits + 1;
            const float *fpv = s.fpv.data();
            for (size_t t = 0; t < L.ntrees; t++) {
                const Split *sp = &splits[L.splits + t * L.nsplits];
                size_t i = 0;
                while (i < L.nsplits) {
                    const bool left = fpv[sp[i].idx1] - fpv[sp[i].idx2] > sp[i].thresh;
                    i = 2 * i + 2 - (size_t)left;
                }
                s.leaf_ptr[t] = leaves.data() + L.leaves + (t * nleaves + (i - L.nsplits)) * dim;
            }
            float *cs = &current_shape(0);
            const size_t ahead = 4, lines = (dim * sizeof(float) + 63) / 64;
            for (size_t t = 0; t < L.ntrees; t++) {
                if (t + ahead < L.ntrees)
                    for (size_t c = 0; c < lines; c++)
                        __builtin_prefetch((const char *)s.leaf_ptr[t + ahead] + 64 * c);
                const float *lv = s.leaf_ptr[t];
                for (size_t k = 0; k < dim; k++)
                    cs[k] += lv[k];
            }
        }
        const dlib::point_transform_affine tform_to_img = unnormalizing_tform(rect);
        std::vector<dlib::point> parts(dim / 2);
        for (size_t i = 0; i < parts.size(); i++)
            parts[i] = tform_to_img(location(current_shape, (unsigned long)i));
        return dlib::full_object_detection(rect, parts);
    }

private:
    struct Split {
        uint32_t idx1, idx2;
        float thresh;
    };
    // One big float array, 2 MB aligned and marked for transparent huge pages: the leaves
    // are read at random, so fewer TLB misses. One array for all levels, not one per level:
    // each array's last huge page is resident whole, and one level's leaves (4.15 MiB) would
    // leave 1.85 MiB of their third page unused (28 MiB over fifteen levels).
    struct LeafArray {
        float *p = nullptr;
        size_t bytes = 0;
        LeafArray() = default;
        LeafArray(const LeafArray &) = delete;
        LeafArray &operator=(const LeafArray &) = delete;
        ~LeafArray() { std::free(p); }
        void reset(size_t n)
        {
            std::free(p);
            p = nullptr;
            const size_t huge = 2u << 20;
            bytes = (n * sizeof(float) + huge - 1) / huge * huge;
            if (bytes && !(p = static_cast<float *>(std::aligned_alloc(huge, bytes))))
                throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
            if (bytes)
                (void)madvise(p, bytes, MADV_HUGEPAGE);
#endif
        }
        float *data() { return p; }
        const float *data() const { return p; }
    };
    struct Level {
        size_t ntrees = 0, nsplits = 0;
        size_t splits = 0; // index of the level's first split in splits
        size_t leaves = 0; // index of the level's first leaf float in leaves
    };
    dlib::matrix<float, 0, 1> initial_shape;
    std::vector<std::vector<unsigned long>> anchor_idx;
    std::vector<std::vector<dlib::vector<float, 2>>> deltas;
    std::vector<Level> levels;
    std::vector<Split> splits;
    LeafArray leaves;
};

} // namespace

// The models, loaded once (eng_models_load) and shared by every analyzer, on any thread.
// Only what is safe to read from several threads at once lives here, and none of it is
// written after loading:
//  - the BlazeFace weights (eng_nn::Model: a Net only reads its Model; activations are the
//    Net's own) and the anchors;
//  - the landmark model (FastShapePredictor::predict is const; its scratch is the caller's);
//  - the HOG detector and the profile cascade only as templates. dlib's object_detector runs
//    through a non-const operator() that loads the image into its scan_fhog_pyramid (the
//    feature pyramid is a member), and OpenCV's CascadeClassifier::detectMultiScale sets the
//    image on the classifier's feature evaluator, which its copies share (a copy shares the
//    same implementation object): neither can be shared between threads. Both are small
//    (~250 KB and ~35 KB), so each analyzer gets its own: a copy of the HOG detector, and a
//    cascade parsed from the XML kept here (no file is read after eng_models_load).
struct eng_models {
    std::atomic<unsigned long> refs{1};
    std::string model_dir;
    std::shared_ptr<const eng_nn::Model> front; // 128x128: faces filling a good part of the frame
    std::shared_ptr<const eng_nn::Model> back;  // 256x256: small faces (groups, far from camera)
    std::vector<cv::Point2f> anchors;           // normalized anchor centers, 896 of them
    FastShapePredictor landmarks;
    dlib::frontal_face_detector hog; // template: each analyzer runs a copy
    std::string profile_xml;         // the profile cascade's file; empty when there is none
};

// One analyzer: the shared models plus everything a frame writes. Owned by one thread.
struct eng_analyzer {
    eng_config_t cfg;
    eng_models *models = nullptr; // one reference
    eng_nn::Net blazeface;        // front model: its activations
    eng_nn::Net blazeface_back;   // back model: its activations
    dlib::frontal_face_detector hog;
    FastShapePredictor::Scratch landmarks;
    cv::CascadeClassifier profile;
    bool has_profile = false;
    // Scratch buffers kept across calls to avoid reallocating per frame.
    cv::Mat frame, gray, canvas, small;
    std::vector<uint16_t> rowsum; // area_downscale_int scratch
    // The letterbox side of the frame the front model last ran on (0: none). Its outputs stay
    // in the front net until it runs again (the back model is another net): decoded once at
    // the detection threshold and, when nothing passes it, again at the profile pass's loose
    // threshold.
    int front_side = 0;
};

namespace {

void build_anchors(std::vector<cv::Point2f> &a)
{
    // BlazeFace's SSD anchors: a 16x16 grid with 2 anchors per cell, then an 8x8 grid with 6
    // anchors per cell, all centered in their cell; the box sizes are regressed, not anchored.
    a.clear();
    const int grids[2] = {16, 8}, per[2] = {2, 6};
    for (int g = 0; g < 2; g++)
        for (int y = 0; y < grids[g]; y++)
            for (int x = 0; x < grids[g]; x++)
                for (int k = 0; k < per[g]; k++)
                    a.emplace_back((x + 0.5f) / grids[g], (y + 0.5f) / grids[g]);
}

// The model's four outputs: scores and boxes of the 16x16 grid, then of the 8x8 grid.
struct BlazeOut {
    const float *scores[2];
    const float *boxes[2];
    int n[2];
};

std::vector<Det> blazeface_decode(eng_analyzer &A, const BlazeOut &outs, int S, int side, float threshold);

// A BlazeFace net's four outputs after forward(), checked against the anchor layout.
BlazeOut blaze_outputs(eng_nn::Net &net)
{
    static const char *const names[4] = {"Identity:0", "Identity_1:0", "Identity_2:0", "Identity_3:0"};
    BlazeOut outs;
    outs.n[0] = 512;
    outs.n[1] = 384;
    for (int i = 0; i < 4; i++) {
        size_t n = 0;
        const float *p = net.output(names[i], &n);
        if (!p || n != (i < 2 ? 1u : 16u) * (size_t)outs.n[i % 2])
            throw std::runtime_error("BlazeFace output shape");
        (i < 2 ? outs.scores[i % 2] : outs.boxes[i % 2]) = p;
    }
    return outs;
}

// Runs BlazeFace on img (BGR, 8-bit) letterboxed into a square; returns detections in img
// pixels after weighted non-maximum suppression (MediaPipe's blending, IoU 0.3). The front
// model's raw outputs stay in the net for blazeface_redecode().
std::vector<Det> blazeface_detect(eng_analyzer &A, const cv::Mat &img, float threshold, bool back = false)
{
    eng_nn::Net &net = back ? A.blazeface_back : A.blazeface;
    const int S = net.in_h();
    const int side = std::max(img.cols, img.rows);
    if (!back)
        A.front_side = 0; // until this run's outputs exist
    // Letterbox: the image at the top-left of a black side x side square, so one scale maps
    // both axes, resized to SxS with INTER_AREA. Only the part of the square that holds the
    // image is built and resized: a region whose sides are multiples of step maps onto a
    // whole number of output pixels, and when the scale side/S is a multiple of 1/1024 every
    // coordinate in cv::resize's area tables is exact in double, so each output pixel gets
    // the same source pixels and weights as in the full square (identical values); the rest
    // of the square is black, -1 after normalization. At 640x480 the region is the image
    // itself (no canvas copy). Measured per 640x480 frame: front-128 preparation 0.73 ->
    // 0.48 ms, back-256 2.0 -> 1.65 ms. Otherwise (upscaling, side < S) the full square.
    const int step = side / std::gcd(S, side);
    const double scale = 1.0 / ((double)S / side); // as cv::resize derives it
    const bool exact = side >= S && scale * 1024 == std::floor(scale * 1024);
    auto fit = [&](int v) { return exact ? std::min(side, (v + step - 1) / step * step) : side; };
    const int cw = fit(img.cols), ch = fit(img.rows);
    cv::Mat region = img;
    if (cw != img.cols || ch != img.rows) {
        A.canvas.create(ch, cw, CV_8UC3);
        A.canvas.setTo(cv::Scalar::all(0));
        img.copyTo(A.canvas(cv::Rect(0, 0, img.cols, img.rows)));
        region = A.canvas;
    }
    const int ow = cw / step * (S / std::gcd(S, side)), oh = ch / step * (S / std::gcd(S, side));
    // An integer factor (the front model at 640x480: 5) has an exact, faster path.
    const int k = ow > 0 ? region.cols / ow : 0;
    if (k * ow != region.cols || k * oh != region.rows || !eng_img::area_downscale_int(region, k, A.small, A.rowsum))
        cv::resize(region, A.small, cv::Size(ow, oh), 0, 0, cv::INTER_AREA);
    cv::cvtColor(A.small, A.small, cv::COLOR_BGR2RGB);
    cv::Mat rgbf(S, S, CV_32FC3, net.input()); // the net's NHWC input, written in place
    if (ow != S || oh != S)
        rgbf.setTo(cv::Scalar::all(-1.0)); // black: 0 / 127.5 - 1
    cv::Mat dst = rgbf(cv::Rect(0, 0, ow, oh));
    A.small.convertTo(dst, CV_32FC3, 1.0 / 127.5, -1.0);
    net.forward();
    const BlazeOut outs = blaze_outputs(net);
    if (!back)
        A.front_side = side;
    return blazeface_decode(A, outs, S, side, threshold);
}

// The front model's detections of the last blazeface_detect() at another threshold, without
// running the network again.
std::vector<Det> blazeface_redecode(eng_analyzer &A, float threshold)
{
    if (A.front_side == 0)
        return {};
    return blazeface_decode(A, blaze_outputs(A.blazeface), A.blazeface.in_h(), A.front_side, threshold);
}

std::vector<Det> blazeface_decode(eng_analyzer &A, const BlazeOut &outs, int S, int side, float threshold)
{
    std::vector<Det> cand;
    const float logit_thr = std::log(threshold / (1.f - threshold));
    for (int layer = 0; layer < 2; layer++) {
        const int n = outs.n[layer];
        const float *sc = outs.scores[layer];
        const float *bx = outs.boxes[layer];
        const int base = layer == 0 ? 0 : 512;
        for (int i = 0; i < n; i++) {
            if (sc[i] < logit_thr)
                continue;
            const cv::Point2f an = A.models->anchors[(size_t)(base + i)];
            const float *b = bx + (size_t)i * 16;
            Det d;
            d.score = 1.f / (1.f + std::exp(-sc[i]));
            float cx = (an.x + b[0] / S) * side, cy = (an.y + b[1] / S) * side;
            float w = b[2] / S * side, h = b[3] / S * side;
            d.box = cv::Rect2f(cx - w / 2, cy - h / 2, w, h);
            for (int k = 0; k < 6; k++)
                d.kp[k] = cv::Point2f((an.x + b[4 + 2 * k] / S) * side,
                                      (an.y + b[5 + 2 * k] / S) * side);
            d.has_kp = true;
            cand.push_back(d);
        }
    }
    std::sort(cand.begin(), cand.end(), [](const Det &a, const Det &b) { return a.score > b.score; });
    std::vector<Det> out;
    std::vector<bool> used(cand.size(), false);
    for (size_t i = 0; i < cand.size(); i++) {
        if (used[i])
            continue;
        // Blend every overlapping candidate, weighted by score.
        float wsum = 0;
        cv::Point2f c(0, 0), e(0, 0), kp[6];
        for (size_t j = i; j < cand.size(); j++) {
            if (used[j] || (j != i && iou(cand[i].box, cand[j].box) < 0.3f))
                continue;
            used[j] = true;
            const float w = cand[j].score;
            c += w * (cand[j].box.tl() + cv::Point2f(cand[j].box.width, cand[j].box.height) * 0.5f);
            e += w * cv::Point2f(cand[j].box.width, cand[j].box.height);
            for (int k = 0; k < 6; k++)
                kp[k] += w * cand[j].kp[k];
            wsum += w;
        }
        Det d = cand[i];
        c /= wsum;
        e /= wsum;
        d.box = cv::Rect2f(c.x - e.x / 2, c.y - e.y / 2, e.x, e.y);
        for (int k = 0; k < 6; k++)
            d.kp[k] = kp[k] / wsum;
        out.push_back(d);
    }
    return out;
}

// HOG's search around a BlazeFace face, sized from measurements on the labeled photos (the
// dlib box of a face HOG accepts, relative to BlazeFace's): its width is 0.80-1.15 x the
// BlazeFace box width (p5-p95), and its centre lies within +-0.1 box widths (sd 0.05) of the
// midpoint between the eye centre and the mouth keypoint, 0.04 widths higher. So the crop is
// centred there, +-HOG_CROP_HALF widths, scaled so that the predicted box is HOG_FACE_PX pixels
// (0.8 x 95 = 76 px, about dlib's 80 px window), and only HOG_LEVELS pyramid levels (x1.2 each,
// up to 137 px) are scanned. Against the former full search (a 2x crop at 110 px, all levels)
// this takes 1.9 ms instead of 4.9 ms per face and gives the same accept/reject answer on 130
// of 133 faces.
const double HOG_FACE_PX = 95.0;
const float HOG_CROP_HALF = 0.8f;
const unsigned long HOG_LEVELS = 3;
const float HOG_CENTER_RAISE = 0.04f;

// Yaw from BlazeFace's keypoints: where the nose sits between the two ear tragions, as a
// sine. 0 is frontal; +-1 means the nose has reached one ear (a full profile).
double keypoint_yaw(const Det &d)
{
    const float re = d.kp[4].x, le = d.kp[5].x, nose = d.kp[2].x;
    const float half = (le - re) / 2;
    if (std::fabs(half) < 1e-3f)
        return 90.0;
    double s = (nose - (re + le) / 2) / std::fabs(half);
    s = std::max(-1.0, std::min(1.0, s));
    return std::asin(s) * 180.0 / CV_PI;
}

// Re-detects with HOG on a crop around a BlazeFace face (see above). Sets d.hog and
// d.hog_rect (in work-image pixels).
//
// When the keypoints say the head is clearly frontal (|keypoint yaw| < HOG_SKIP_YAW, half
// the default looking limit) HOG's frontal detectors accept it anyway, so the search is
// skipped and the box HOG would report is taken from the same measured relation: width 1.0 x
// the BlazeFace box, centred as above. On the labeled photos this changes no face count and
// no looking answer (21 of 130 faces take this path; one eye-aspect ratio moves across the
// closed threshold); on a frontal webcam stream it saves the ~2 ms search on most frames.
const double HOG_SKIP_YAW = 15.0;

void hog_refine(eng_analyzer &A, const cv::Mat &gray, Det &d)
{
    const float P = d.box.width;
    if (!(P >= 8.f))
        return;
    cv::Point2f C(d.box.x + d.box.width / 2, d.box.y + d.box.height / 2);
    if (d.has_kp)
        C = ((d.kp[0] + d.kp[1]) * 0.5f + d.kp[3]) * 0.5f - cv::Point2f(0, HOG_CENTER_RAISE * P);
    const cv::Rect2f predicted(C.x - P / 2, C.y - P / 2, P, P);
    if (d.has_kp && std::fabs(keypoint_yaw(d)) < HOG_SKIP_YAW &&
        (predicted & cv::Rect2f(0, 0, (float)gray.cols, (float)gray.rows)) == predicted) {
        d.hog = true;
        d.hog_rect = dlib::rectangle(std::lround(predicted.x), std::lround(predicted.y),
                                     std::lround(predicted.x + P), std::lround(predicted.y + P));
        return;
    }
    const float H = HOG_CROP_HALF * P;
    const cv::Rect ri = cv::Rect(cv::Rect2f(C.x - H, C.y - H, 2 * H, 2 * H)) & cv::Rect(0, 0, gray.cols, gray.rows);
    if (ri.width < 8 || ri.height < 8)
        return;
    const double scale = HOG_FACE_PX / P;
    if (ri.width * scale < 80 || ri.height * scale < 80)
        return; // smaller than dlib's 80 px window once scaled: nothing to find
    cv::Mat crop;
    cv::resize(gray(ri), crop, cv::Size(), scale, scale, scale < 1 ? cv::INTER_AREA : cv::INTER_LINEAR);
    dlib::cv_image<unsigned char> dimg(crop);
    std::vector<dlib::rect_detection> dets;
    A.hog(dimg, dets, 0.0);
    const cv::Point2f c(d.box.x + d.box.width / 2, d.box.y + d.box.height / 2);
    double best = -1e9;
    for (const auto &h : dets) {
        cv::Rect2f hr((float)(h.rect.left() / scale + ri.x), (float)(h.rect.top() / scale + ri.y),
                      (float)(h.rect.width() / scale), (float)(h.rect.height() / scale));
        if (!hr.contains(c) || iou(hr, d.box) < 0.2f)
            continue;
        if (h.detection_confidence > best) {
            best = h.detection_confidence;
            d.hog = true;
            d.hog_rect = dlib::rectangle((long)std::lround(hr.x), (long)std::lround(hr.y),
                                         (long)std::lround(hr.x + hr.width),
                                         (long)std::lround(hr.y + hr.height));
        }
    }
}

// Head pose from 6 landmarks with a generic face model in camera axes (x right, y down, z
// away from the camera), so a frontal face has the identity rotation and the solver has no
// mirrored twin to fall into. Millimetres, nose tip at the origin.
bool head_pose(const dlib::full_object_detection &s, int w, int h, double &yaw, double &pitch)
{
    // Depths behind the nose tip follow adult anthropometry: outer eye corners ~48 mm, mouth
    // corners ~33 mm, chin ~24 mm; eye corners 90 mm apart. Too shallow a model inflates yaw.
    static const cv::Point3d model[6] = {
        {0.0, 0.0, 0.0},      // 30 nose tip
        {0.0, 66.0, 24.0},    // 8 chin
        {-45.0, -34.0, 48.0}, // 36 outer corner of the eye on the image's left
        {45.0, -34.0, 48.0},  // 45 outer corner of the eye on the image's right
        {-27.0, 30.0, 33.0},  // 48 mouth corner, image left
        {27.0, 30.0, 33.0},   // 54 mouth corner, image right
    };
    static const int idx[6] = {30, 8, 36, 45, 48, 54};
    std::vector<cv::Point3d> obj(model, model + 6);
    std::vector<cv::Point2d> img;
    for (int i : idx)
        img.emplace_back((double)s.part((unsigned long)i).x(), (double)s.part((unsigned long)i).y());
    const double f = std::max(w, h);
    cv::Matx33d K(f, 0, w / 2.0, 0, f, h / 2.0, 0, 0, 1);
    cv::Mat rvec, tvec;
    if (!cv::solvePnP(obj, img, K, cv::noArray(), rvec, tvec, false, cv::SOLVEPNP_SQPNP))
        return false;
    cv::Matx33d R;
    cv::Rodrigues(rvec, R);
    // The face's forward direction (towards the camera, -z in the model) in camera axes.
    const cv::Vec3d fwd(-R(0, 2), -R(1, 2), -R(2, 2));
    if (fwd[2] >= 0)
        return false; // facing away from the camera: not a plausible solution
    // Correct for the viewing direction: a frontal face off the optical axis still looks at
    // the camera when it faces the camera centre.
    cv::Vec3d t((double)tvec.at<double>(0), (double)tvec.at<double>(1), (double)tvec.at<double>(2));
    const cv::Vec3d to_cam = -t / cv::norm(t);
    // Rotate so that to_cam becomes (0,0,-1), then measure fwd in that frame.
    const double cam_yaw = std::atan2(to_cam[0], -to_cam[2]);
    const double cam_pitch = std::atan2(-to_cam[1], std::hypot(to_cam[0], to_cam[2]));
    const double fyaw = std::atan2(fwd[0], -fwd[2]);
    const double fpitch = std::atan2(-fwd[1], std::hypot(fwd[0], fwd[2]));
    yaw = (fyaw - cam_yaw) * 180.0 / CV_PI;
    pitch = (fpitch - cam_pitch) * 180.0 / CV_PI;
    return true;
}

double eye_ar(const dlib::full_object_detection &s, unsigned long b)
{
    auto p = [&](unsigned long i) { return cv::Point2d((double)s.part(b + i).x(), (double)s.part(b + i).y()); };
    const double horiz = cv::norm(p(0) - p(3));
    if (horiz < 1e-6)
        return 0;
    return (cv::norm(p(1) - p(5)) + cv::norm(p(2) - p(4))) / (2.0 * horiz);
}

// Second pass for faces turned far away: the LBP profile cascade on the frame and on its
// mirror (it only knows one side), kept only where BlazeFace sees at least a weak face.
std::vector<Det> profile_detect(eng_analyzer &A, const cv::Mat &img, const cv::Mat &gray)
{
    std::vector<Det> out;
    if (!A.has_profile)
        return out;
    const double loose = PROFILE_CONFIRM_SCORE;
    // The frame's front-model outputs at the loose threshold. Without any weak face no
    // profile hit could be kept, so the cascade's two passes are skipped.
    std::vector<Det> weak = blazeface_redecode(A, (float)loose);
    if (weak.empty())
        return out;
    const int minn = 3; // OpenCV's default neighbour count
    const int mins = std::max(24, std::min(gray.cols, gray.rows) / 8);
    // A hit is kept only when it agrees with a weak face: IoU > 0.2, which bounds its width to
    // 0.45-2.24 x the weak box's (the cascade's window is taller than wide, so its height may
    // reach twice that), or containing the weak face's centre. The cascade scans only those
    // sizes: the small ones it skips are most of its work on a whole frame (14 -> 8 ms per
    // frame that needs it, the same hits on the labeled photos).
    const float side = (float)std::max(gray.cols, gray.rows);
    float wmin = side, wmax = 0;
    for (const Det &w : weak) {
        // Regressed sizes, clamped to the frame before they become window sizes.
        const float ws = std::min(side, std::max(0.f, std::max(w.box.width, w.box.height)));
        wmin = std::min(wmin, ws);
        wmax = std::max(wmax, ws);
    }
    const int lo = std::max(mins, (int)std::floor(0.45f * wmin));
    const int hi = std::max(lo, (int)std::ceil(2.25f * wmax));
    for (int flip = 0; flip < 2; flip++) {
        cv::Mat g = gray;
        if (flip)
            cv::flip(gray, g, 1);
        std::vector<cv::Rect> rs;
        A.profile.detectMultiScale(g, rs, 1.1, minn, 0, cv::Size(lo, lo), cv::Size(hi, 2 * hi));
        for (cv::Rect r : rs) {
            if (flip)
                r.x = gray.cols - r.x - r.width;
            Det d;
            d.box = cv::Rect2f(r);
            d.score = 0.f;
            bool agree = false;
            for (const Det &w : weak)
                if (iou(w.box, d.box) > 0.2f || d.box.contains(w.box.tl() + cv::Point2f(w.box.width / 2, w.box.height / 2)))
                    agree = true;
            if (!agree)
                continue;
            bool dup = false;
            for (const Det &o : out)
                if (iou(o.box, d.box) > 0.3f)
                    dup = true;
            if (!dup)
                out.push_back(d);
        }
    }
    return out;
}

// JPEG straight through libjpeg(-turbo) into BGR: the same library and settings (ISLOW
// IDCT, fancy upsampling) as cv::imdecode, so the same pixels, at half its cost (1.2 ms
// against 2.2 ms per 640x480 frame, measured: imdecode adds its own copies and EXIF
// handling). Stricter, too: any libjpeg warning (corrupt or truncated data, which libjpeg
// would otherwise paper over with grey) makes the frame undecodable. Returns 0, or 1 when the
// colour space needs cv::imdecode (CMYK), or -1 on a decoding error. Only POD locals between
// setjmp and longjmp.
struct JpegErr {
    jpeg_error_mgr mgr;
    std::jmp_buf jmp;
};

void jpeg_on_error(j_common_ptr c)
{
    std::longjmp(reinterpret_cast<JpegErr *>(c->err)->jmp, 1);
}

void jpeg_on_message(j_common_ptr c, int level)
{
    if (level < 0) // a warning: corrupt data
        std::longjmp(reinterpret_cast<JpegErr *>(c->err)->jmp, 1);
}

// A progressive JPEG may hold any number of scans, each a pass over the whole image: a
// hostile 1 MB file can make the decoder work for seconds. Encoders write about 10 (libjpeg's
// default progression) and never near this limit.
const int JPEG_MAX_SCANS = 100;

void jpeg_on_progress(j_common_ptr c)
{
    if (c->is_decompressor && reinterpret_cast<j_decompress_ptr>(c)->input_scan_number > JPEG_MAX_SCANS)
        std::longjmp(reinterpret_cast<JpegErr *>(c->err)->jmp, 1);
}

int decode_jpeg(const uint8_t *bytes, size_t len, uint32_t w, uint32_t h, uint8_t *bgr)
{
    jpeg_decompress_struct c;
    JpegErr err;
    jpeg_progress_mgr progress;
    progress.progress_monitor = jpeg_on_progress;
    c.err = jpeg_std_error(&err.mgr);
    err.mgr.error_exit = jpeg_on_error;
    err.mgr.emit_message = jpeg_on_message;
    if (setjmp(err.jmp)) {
        jpeg_destroy_decompress(&c);
        return -1;
    }
    jpeg_create_decompress(&c);
    c.progress = &progress;
    jpeg_mem_src(&c, bytes, (unsigned long)len);
    if (jpeg_read_header(&c, TRUE) != JPEG_HEADER_OK || c.image_width != w || c.image_height != h) {
        jpeg_destroy_decompress(&c);
        return -1;
    }
    if (c.jpeg_color_space != JCS_GRAYSCALE && c.jpeg_color_space != JCS_YCbCr && c.jpeg_color_space != JCS_RGB) {
        jpeg_destroy_decompress(&c);
        return 1;
    }
    c.out_color_space = JCS_EXT_BGR;
    jpeg_start_decompress(&c);
    if (c.output_width != w || c.output_height != h || c.output_components != 3) {
        jpeg_destroy_decompress(&c);
        return -1;
    }
    while (c.output_scanline < c.output_height) {
        JSAMPROW row = bgr + (size_t)c.output_scanline * w * 3;
        if (jpeg_read_scanlines(&c, &row, 1) != 1) {
            jpeg_destroy_decompress(&c);
            return -1;
        }
    }
    jpeg_finish_decompress(&c);
    jpeg_destroy_decompress(&c);
    return 0;
}

int analyze(eng_analyzer &A, const uint8_t *bytes, size_t len, eng_result_t &out)
{
    const eng_config_t &cfg = A.cfg;
    if (len > cfg.max_bytes)
        return ENG_E_TOO_BIG_BYTES;
    eng_img_format_t fmt;
    uint32_t w = 0, h = 0;
    int rc = eng_probe_image(bytes, len, &fmt, &w, &h);
    if (rc != 0)
        return rc;
    if (w > cfg.max_side || h > cfg.max_side || (uint64_t)w * h > cfg.max_pixels)
        return ENG_E_TOO_BIG_PIXELS;

    cv::Mat &img = A.frame; // reused across frames of the same size
    int jrc = 1;
    if (fmt == ENG_IMG_JPEG) {
        img.create((int)h, (int)w, CV_8UC3);
        jrc = decode_jpeg(bytes, len, w, h, img.ptr<uint8_t>());
        if (jrc < 0)
            return ENG_E_DECODE;
    }
    if (jrc > 0) {
        cv::Mat raw(1, (int)len, CV_8UC1, const_cast<uint8_t *>(bytes));
        img = cv::imdecode(raw, cv::IMREAD_COLOR);
    }
    if (img.empty())
        return ENG_E_DECODE;
    // The decoder must agree with the header we vetted; anything else is a malformed file.
    if ((uint32_t)img.cols != w || (uint32_t)img.rows != h)
        return ENG_E_DECODE;
    out.width = img.cols;
    out.height = img.rows;
    const int longest = std::max(img.cols, img.rows);
    if ((uint32_t)longest > cfg.work_side) {
        const double s = (double)cfg.work_side / longest;
        cv::resize(img, img, cv::Size(), s, s, cv::INTER_AREA);
    }
    cv::Mat &gray = A.gray;
    cv::cvtColor(img, gray, cv::COLOR_BGR2GRAY);

    std::vector<Det> faces = blazeface_detect(A, img, (float)cfg.det_threshold);
    if (faces.empty() && !(cfg.flags & ENG_F_NO_BACK))
        faces = blazeface_detect(A, img, (float)cfg.det_threshold, true);
    bool from_profile = false;
    if (faces.empty() && !(cfg.flags & ENG_F_NO_PROFILE)) {
        faces = profile_detect(A, img, gray);
        from_profile = !faces.empty();
    }
    out.faces = (int)faces.size();
    if (faces.empty())
        return 0;

    // The main face is the largest.
    size_t mi = 0;
    for (size_t i = 1; i < faces.size(); i++)
        if (faces[i].box.area() > faces[mi].box.area())
            mi = i;
    Det &m = faces[mi];
    if (!(cfg.flags & ENG_F_NO_HOG_REFINE) && !from_profile)
        hog_refine(A, gray, m);

    dlib::rectangle rect;
    if (m.hog) {
        rect = m.hog_rect;
    } else {
        // dlib's predictor was trained on HOG boxes, which are tighter than BlazeFace's and
        // sit a little lower; shrink and shift the box to match.
        const float sw = m.box.width * 0.9f;
        const float cx = m.box.x + m.box.width / 2, cy = m.box.y + m.box.height * 0.55f;
        rect = dlib::rectangle((long)std::lround(cx - sw / 2), (long)std::lround(cy - sw / 2),
                               (long)std::lround(cx + sw / 2), (long)std::lround(cy + sw / 2));
    }
    dlib::cv_image<unsigned char> dgray(gray);
    dlib::full_object_detection shape = A.models->landmarks.predict(dgray, rect, A.landmarks);

    double yaw = 0, pitch = 0;
    bool pose = head_pose(shape, img.cols, img.rows, yaw, pitch);
    if (pose) {
        out.has_pose = 1;
        out.yaw_deg = yaw;
        out.pitch_deg = pitch;
    }
    bool looking = pose && std::fabs(yaw) <= cfg.max_yaw_deg && std::fabs(pitch) <= cfg.max_pitch_deg;
    if (from_profile) {
        looking = false; // only a profile detector saw it: turned far away by construction
        out.has_pose = 0;
    } else if (!m.hog && !(cfg.flags & ENG_F_NO_TURNED)) {
        // HOG's frontal detectors reject the crop. When the keypoints agree that the head is
        // turned, trust that over landmarks fitted to a face they were not trained for.
        const double kyaw = keypoint_yaw(m);
        if (!(cfg.flags & ENG_F_NO_KEYPOINT_YAW)) {
            if (std::fabs(kyaw) > TURNED_KEYPOINT_YAW)
                looking = false;
        } else {
            looking = false;
        }
    }
    out.looking = looking ? 1 : 0;

    out.eyes = ENG_EYES_UNKNOWN;
    if (pose && std::fabs(yaw) <= 45.0 && std::fabs(pitch) <= 40.0) {
        const double ear = (eye_ar(shape, 36) + eye_ar(shape, 42)) / 2.0;
        out.ear = ear;
        out.eyes = ear < cfg.ear_closed ? ENG_EYES_CLOSED : ENG_EYES_OPEN;
    }
    return 0;
}

} // namespace

extern "C" {

void eng_config_default(eng_config_t *cfg)
{
    if (!cfg)
        return;
    std::memset(cfg, 0, sizeof *cfg);
    cfg->model_dir = nullptr;
    cfg->max_yaw_deg = 30.0;
    cfg->max_pitch_deg = 30.0;
    cfg->ear_closed = 0.18;
    cfg->det_threshold = 0.75;
    cfg->max_side = 4096;
    cfg->max_pixels = 4096u * 4096u / 2u;
    cfg->max_bytes = 8u << 20;
    cfg->work_side = 640;
    cfg->flags = 0;
}

eng_models_t *eng_models_load(const eng_config_t *cfg, char *err, size_t errlen)
{
    auto fail = [&](const std::string &msg) -> eng_models_t * {
        if (err && errlen)
            std::snprintf(err, errlen, "%s", msg.c_str());
        return nullptr;
    };
    std::unique_ptr<eng_models> M;
    try {
        std::string dir = cfg && cfg->model_dir ? cfg->model_dir : "";
        if (dir.empty()) {
            const char *e = std::getenv("ROLLCALL_MODEL_DIR");
            dir = e ? e : "";
        }
        M = std::make_unique<eng_models>();
        M->model_dir = dir;

        static std::once_flag once;
        std::call_once(once, [] { cv::setNumThreads(1); });

        const char *none[] = {""};
        std::string bf = find_model(dir, BLAZEFACE_FILE, none, 0);
        if (bf.empty())
            return fail(std::string("model not found: ") + BLAZEFACE_FILE + " in '" + dir +
                        "' (run engagement/fetch_models.sh)");
        M->front = eng_nn::Model::load(bf);
        std::string bfb = find_model(dir, BLAZEFACE_BACK_FILE, none, 0);
        if (bfb.empty())
            return fail(std::string("model not found: ") + BLAZEFACE_BACK_FILE + " in '" + dir +
                        "' (run engagement/fetch_models.sh)");
        M->back = eng_nn::Model::load(bfb);
        if (M->front->in_h() != 128 || M->front->in_w() != 128 || M->front->in_c() != 3 ||
            M->back->in_h() != 256 || M->back->in_w() != 256 || M->back->in_c() != 3)
            return fail("unexpected BlazeFace input shapes");
        build_anchors(M->anchors);

        const char *dlib_dirs[] = {SYSTEM_DLIB_DIR};
        std::string lm = find_model(dir, LANDMARKS_FILE, dlib_dirs, 1);
        if (lm.empty())
            return fail(std::string("model not found: ") + LANDMARKS_FILE +
                        " (Debian package libdlib-data)");
        M->landmarks.load(lm);
        {
            // dlib's frontal detector with its pyramid cut to HOG_LEVELS levels.
            const dlib::frontal_face_detector full = dlib::get_frontal_face_detector();
            dlib::frontal_face_detector::image_scanner_type scanner;
            scanner.copy_configuration(full.get_scanner());
            scanner.set_max_pyramid_levels(HOG_LEVELS);
            std::vector<dlib::frontal_face_detector::feature_vector_type> w;
            for (unsigned long j = 0; j < full.num_detectors(); j++)
                w.push_back(full.get_w(j));
            M->hog = dlib::frontal_face_detector(scanner, full.get_overlap_tester(), w);
        }

        // The profile cascade is optional: kept only when it parses (as each analyzer will
        // parse it again, from these bytes).
        std::string pf = find_model(dir, PROFILE_FILE, SYSTEM_CASCADE_DIRS, 2);
        if (!pf.empty()) {
            std::ifstream in(pf, std::ios::binary);
            std::string xml((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
            cv::FileStorage fs(xml, cv::FileStorage::READ | cv::FileStorage::MEMORY);
            cv::CascadeClassifier probe;
            if (in && fs.isOpened() && probe.read(fs.getFirstTopLevelNode()))
                M->profile_xml = std::move(xml);
        }
    } catch (const std::exception &e) {
        return fail(std::string("engagement: cannot load models: ") + e.what());
    } catch (...) {
        return fail("engagement: cannot load models");
    }
    // No malloc_trim here: the landmark model is parsed one level at a time (load above), so
    // the parsing memory is a few MB reused from level to level, not ~70 MB left in the
    // loading thread's malloc arena. Measured: RSS after start is the same with or without it.
    return M.release();
}

eng_models_t *eng_models_ref(eng_models_t *m)
{
    if (m)
        m->refs.fetch_add(1, std::memory_order_relaxed);
    return m;
}

void eng_models_unref(eng_models_t *m)
{
    // acq_rel: every analyzer's reads of the models happen before the last unref frees them.
    if (m && m->refs.fetch_sub(1, std::memory_order_acq_rel) == 1)
        delete m;
}

eng_analyzer_t *eng_analyzer_new(eng_models_t *models, const eng_config_t *cfg, char *err,
                                 size_t errlen)
{
    auto fail = [&](const std::string &msg) -> eng_analyzer_t * {
        if (err && errlen)
            std::snprintf(err, errlen, "%s", msg.c_str());
        return nullptr;
    };
    eng_config_t c;
    eng_config_default(&c);
    if (cfg)
        c = *cfg;
    if (!(c.max_yaw_deg > 0 && c.max_yaw_deg <= 90) || !(c.max_pitch_deg > 0 && c.max_pitch_deg <= 90) ||
        !(c.det_threshold > 0 && c.det_threshold < 1) || !(c.ear_closed >= 0 && c.ear_closed < 1) ||
        c.max_side == 0 || c.max_pixels == 0 || c.max_bytes == 0 || c.work_side < 64)
        return fail("invalid engagement configuration");
    if (!models)
        return fail("no models (eng_models_load)");
    eng_analyzer *A = nullptr;
    try {
        A = new eng_analyzer();
        A->cfg = c;
        A->cfg.model_dir = nullptr; // the models know their directory
        A->models = eng_models_ref(models);
        A->blazeface = eng_nn::Net(models->front);
        A->blazeface_back = eng_nn::Net(models->back);
        A->hog = models->hog;
        if (!models->profile_xml.empty()) {
            cv::FileStorage fs(models->profile_xml, cv::FileStorage::READ | cv::FileStorage::MEMORY);
            if (!fs.isOpened() || !A->profile.read(fs.getFirstTopLevelNode()))
                throw std::runtime_error("the profile cascade no longer parses");
            A->has_profile = true;
        }
        return A;
    } catch (const std::exception &e) {
        eng_analyzer_free(A);
        return fail(std::string("engagement: cannot create the analyzer: ") + e.what());
    } catch (...) {
        eng_analyzer_free(A);
        return fail("engagement: cannot create the analyzer");
    }
}

void eng_analyzer_free(eng_analyzer_t *a)
{
    if (!a)
        return;
    eng_models *m = a->models;
    delete a;
    eng_models_unref(m);
}

int eng_analyze(eng_analyzer_t *a, const uint8_t *bytes, size_t len, eng_result_t *out)
{
    if (!out)
        return ENG_E_INVAL;
    std::memset(out, 0, sizeof *out);
    out->eyes = ENG_EYES_UNKNOWN;
    if (!a || (!bytes && len))
        return ENG_E_INVAL;
    if (len == 0)
        return ENG_E_EMPTY;
    int rc;
    try {
        rc = analyze(*a, bytes, len, *out);
    } catch (const std::bad_alloc &) {
        rc = ENG_E_NOMEM;
    } catch (const cv::Exception &) {
        // imdecode raises on some corrupt streams; everything else from OpenCV is internal.
        rc = ENG_E_INTERNAL;
    } catch (...) {
        rc = ENG_E_INTERNAL;
    }
    if (rc != 0) {
        std::memset(out, 0, sizeof *out);
        out->eyes = ENG_EYES_UNKNOWN;
    }
    return rc;
}

} // extern "C"
