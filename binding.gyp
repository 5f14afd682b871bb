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
    },
    {
      "target_name": "qfarm_wal_gathering",
      "type": "shared_library",
      "product_prefix": "",
      "sources": ["native/wal-write-gathering.c"],
      "include_dirs": ["<!(node -p \"require('path').join(require('path').dirname(require.resolve('better-sqlite3/package.json')), 'deps', 'sqlite3')\")"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
