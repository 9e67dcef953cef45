{
  "variables": {
    "dnnl_include%": "/usr/include",
    "dnnl_lib%": "/usr/lib"
  },
  "targets": [
    {
      "target_name": "cairn_onednn",
      "sources": ["src/addon.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "<(dnnl_include)"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O3", "-fopenmp", "-ffp-contract=off", "-fno-math-errno"],
      "libraries": ["-L<(dnnl_lib)", "-Wl,-rpath,<(dnnl_lib)", "-ldnnl", "-fopenmp"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "OTHER_CPLUSPLUSFLAGS": ["-O3", "-ffp-contract=off", "-fno-math-errno", "-Xpreprocessor", "-fopenmp"]
      }
    }
  ]
}
