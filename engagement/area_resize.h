// SPDX-License-Identifier: MIT
// Integer-factor area downscaling of 8-bit 3-channel images, giving exactly what
// cv::resize(..., INTER_AREA) gives for an integer factor (the k x k sum times 1/k^2 in float,
// rounded as cv::saturate_cast does), at a quarter of its time: OpenCV 4.6 vectorizes only
// the factor 2 (which stays with cv::resize), and the front model's input is a 5x reduction of every 640x480 frame
// (0.54 -> 0.14 ms). tests/unit/blazenet_test checks it against cv::resize on real photos.
#pragma once

#include <opencv2/core.hpp>

#include <cstdint>
#include <vector>

namespace eng_img {

// dst = src reduced k times in both directions (k in 3..16; src's sides multiples of k; dst
// must not be src, which dst.create() would release).
// Returns false, leaving dst alone, when those conditions do not hold. Not k = 2: OpenCV's
// vectorized 2x path rounds (sum + 2) / 4 in integers, halves up, so it is left to cv::resize.
inline bool area_downscale_int(const cv::Mat &src, int k, cv::Mat &dst, std::vector<uint16_t> &rowsum)
{
    if (src.type() != CV_8UC3 || k < 3 || k > 16 || src.cols % k || src.rows % k || src.empty())
        return false;
    const int ow = src.cols / k, oh = src.rows / k, n = src.cols * 3;
    dst.create(oh, ow, CV_8UC3);
    rowsum.resize((size_t)n);
    const float scale = 1.f / (float)(k * k);
    uint16_t *rs = rowsum.data(); // k rows of at most 255 fit in 16 bits for k <= 16
    for (int oy = 0; oy < oh; oy++) {
        const uint8_t *r0 = src.ptr<uint8_t>(oy * k);
        for (int i = 0; i < n; i++)
            rs[i] = r0[i];
        for (int j = 1; j < k; j++) {
            const uint8_t *r = src.ptr<uint8_t>(oy * k + j);
            for (int i = 0; i < n; i++)
                rs[i] = (uint16_t)(rs[i] + r[i]);
        }
        uint8_t *d = dst.ptr<uint8_t>(oy);
        for (int ox = 0; ox < ow; ox++)
            for (int c = 0; c < 3; c++) {
                int s = 0;
                for (int j = 0; j < k; j++)
                    s += rs[(ox * k + j) * 3 + c];
                d[ox * 3 + c] = cv::saturate_cast<uint8_t>((float)s * scale);
            }
    }
    return true;
}

} // namespace eng_img
