{
  "targets": [
    {
      "target_name": "qfarm_native",
      "sources": ["native/peer-credentials.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    },
    {
      "target_name": "qfarm-exec",
      "type": "executable",
      "sources": ["native/qfarm-exec.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
