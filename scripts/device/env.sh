# Sourced on the GPU machine from the project root, by .device/setup.sh or alone on a warm machine
# where setup.sh ran before (Node in /tmp/node-bin, node_modules and dist unpacked: they stay while
# the machine is held, while a carried .device does not): Node on PATH, NVIDIA's Vulkan driver.
export PATH=/tmp/node-bin:$PATH
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
export XDG_RUNTIME_DIR=/tmp
