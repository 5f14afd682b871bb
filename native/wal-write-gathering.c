/*
 * An SQLite VFS shim, loaded into better-sqlite3's SQLite as an extension, that writes a
 * transaction's WAL frames with one pwrite instead of two per page.
 *
 * Why: SQLite writes each WAL frame as two writes (its 24-byte header, then the page). A master
 * turn's commit is ~20 pages: ~40 system calls, 15 % of the master's CPU under load (perf,
 * bench:agents). Here the writes to a WAL file are gathered in memory while they are contiguous
 * and written in one go when the commit frame (the frame whose header carries the database size)
 * has been written, from inside that same xWrite, so an error reaches SQLite as the commit's
 * error, before SQLite publishes the commit in the shared-memory index. Anything else done to the
 * WAL file (a read, a sync, a truncate, its size, a write elsewhere, closing it) writes what is
 * gathered first, so SQLite never sees the file differ from what it wrote, and so does any lock
 * change on the database's shared memory (what a rolled-back transaction spilled is written
 * before its write lock is released, never after another connection's commit). A process killed while
 * frames are gathered loses an uncommitted transaction, as it would have lost it mid-write.
 *
 * Only files opened as WAL are gathered; every other call goes to the default VFS unchanged.
 * Registered as the default VFS (connections opened after loading use it).
 */
#include "sqlite3ext.h"
SQLITE_EXTENSION_INIT1
#include <string.h>

/* Writes gathered up to this size at most; a larger transaction writes as it goes. The unix VFS
   writes less than 128 KiB in one call (and calls a shorter write a full disk). */
#define GATHER_LIMIT 0x1ffff
#define WAL_FRAME_HEADER_SIZE 24

typedef struct GatheringFile {
  sqlite3_file base;
  sqlite3_file *real;
  int isWal;
  unsigned char *buffer; /* GATHER_LIMIT bytes once the WAL is first written */
  int length;
  sqlite3_int64 offset;
  /* The last write was a commit frame's header: the page that follows ends the commit. */
  int commitPageNext;
  /* A database file's WAL and a WAL's database file, of the same connection (or null). */
  struct GatheringFile *wal;
  struct GatheringFile *db;
} GatheringFile;

static sqlite3_vfs gatheringVfs;
static sqlite3_vfs *realVfs;

static int writeGathered(GatheringFile *p) {
  if (p->length == 0) return SQLITE_OK;
  int rc = p->real->pMethods->xWrite(p->real, p->buffer, p->length, p->offset);
  p->length = 0;
  return rc;
}

/* Writes what is gathered before any other use of the file; returns from the caller on error. */
#define WRITE_GATHERED_FIRST(p)        \
  do {                                 \
    int rc_ = writeGathered(p);        \
    if (rc_ != SQLITE_OK) return rc_; \
  } while (0)

static int gClose(sqlite3_file *f) {
  GatheringFile *p = (GatheringFile *)f;
  int rc = writeGathered(p);
  if (p->db) p->db->wal = 0;
  if (p->wal) p->wal->db = 0;
  int rc2 = p->real->pMethods ? p->real->pMethods->xClose(p->real) : SQLITE_OK;
  sqlite3_free(p->buffer);
  p->buffer = 0;
  return rc != SQLITE_OK ? rc : rc2;
}

static int gRead(sqlite3_file *f, void *out, int amount, sqlite3_int64 offset) {
  GatheringFile *p = (GatheringFile *)f;
  WRITE_GATHERED_FIRST(p);
  return p->real->pMethods->xRead(p->real, out, amount, offset);
}

static int gWrite(sqlite3_file *f, const void *data, int amount, sqlite3_int64 offset) {
  GatheringFile *p = (GatheringFile *)f;
  if (!p->isWal) return p->real->pMethods->xWrite(p->real, data, amount, offset);
  int rc;
  if (p->length > 0 && offset != p->offset + p->length) {
    rc = writeGathered(p);
    if (rc != SQLITE_OK) return rc;
  }
  if (p->length + amount > GATHER_LIMIT) {
    rc = writeGathered(p);
    if (rc != SQLITE_OK) return rc;
    if (amount > GATHER_LIMIT) return p->real->pMethods->xWrite(p->real, data, amount, offset);
  }
  if (!p->buffer) {
    /* Allocated at the WAL's first write; without memory, writes go straight through. */
    p->buffer = sqlite3_malloc(GATHER_LIMIT);
    if (!p->buffer) return p->real->pMethods->xWrite(p->real, data, amount, offset);
  }
  if (p->length == 0) p->offset = offset;
  memcpy(p->buffer + p->length, data, amount);
  p->length += amount;
  if (amount == WAL_FRAME_HEADER_SIZE) {
    /* A frame header: bytes 4-7 are the database size in pages after a commit, 0 otherwise. */
    const unsigned char *h = (const unsigned char *)data;
    p->commitPageNext = (h[4] | h[5] | h[6] | h[7]) != 0;
    return SQLITE_OK;
  }
  if (p->commitPageNext) {
    p->commitPageNext = 0;
    return writeGathered(p);
  }
  return SQLITE_OK;
}

static int gTruncate(sqlite3_file *f, sqlite3_int64 size) {
  GatheringFile *p = (GatheringFile *)f;
  WRITE_GATHERED_FIRST(p);
  return p->real->pMethods->xTruncate(p->real, size);
}

static int gSync(sqlite3_file *f, int flags) {
  GatheringFile *p = (GatheringFile *)f;
  WRITE_GATHERED_FIRST(p);
  return p->real->pMethods->xSync(p->real, flags);
}

static int gFileSize(sqlite3_file *f, sqlite3_int64 *size) {
  GatheringFile *p = (GatheringFile *)f;
  WRITE_GATHERED_FIRST(p);
  return p->real->pMethods->xFileSize(p->real, size);
}

static int gLock(sqlite3_file *f, int level) {
  GatheringFile *p = (GatheringFile *)f;
  return p->real->pMethods->xLock(p->real, level);
}

static int gUnlock(sqlite3_file *f, int level) {
  GatheringFile *p = (GatheringFile *)f;
  return p->real->pMethods->xUnlock(p->real, level);
}

static int gCheckReservedLock(sqlite3_file *f, int *out) {
  GatheringFile *p = (GatheringFile *)f;
  return p->real->pMethods->xCheckReservedLock(p->real, out);
}

static int gFileControl(sqlite3_file *f, int op, void *arg) {
  GatheringFile *p = (GatheringFile *)f;
  WRITE_GATHERED_FIRST(p);
  if (op == SQLITE_FCNTL_VFSNAME) {
    int rc2 = p->real->pMethods->xFileControl(p->real, op, arg);
    if (rc2 == SQLITE_OK) *(char **)arg = sqlite3_mprintf("qfarm-gathering/%z", *(char **)arg);
    return rc2;
  }
  return p->real->pMethods->xFileControl(p->real, op, arg);
}

static int gSectorSize(sqlite3_file *f) {
  GatheringFile *p = (GatheringFile *)f;
  return p->real->pMethods->xSectorSize(p->real);
}

static int gDeviceCharacteristics(sqlite3_file *f) {
  GatheringFile *p = (GatheringFile *)f;
  return p->real->pMethods->xDeviceCharacteristics(p->real);
}

static int gShmMap(sqlite3_file *f, int region, int size, int extend, void volatile **out) {
  GatheringFile *p = (GatheringFile *)f;
  return p->real->pMethods->xShmMap(p->real, region, size, extend, out);
}

static int gShmLock(sqlite3_file *f, int offset, int n, int flags) {
  GatheringFile *p = (GatheringFile *)f;
  /* Nothing gathered may outlive the connection's WAL write lock: frames of a transaction that
     was rolled back after it spilled pages would otherwise be written later, over frames another
     connection committed meanwhile. Written while the lock is still held they land past the last
     commit, where the next writer writes over them. */
  if (p->wal) writeGathered(p->wal);
  return p->real->pMethods->xShmLock(p->real, offset, n, flags);
}

static void gShmBarrier(sqlite3_file *f) {
  GatheringFile *p = (GatheringFile *)f;
  /* SQLite publishes a commit in shared memory around a barrier on the database file: its frames
     are written by then (the commit frame's xWrite did it). Should anything still be gathered,
     it goes to the file before readers can see the commit; an error here cannot be returned. */
  if (p->wal) writeGathered(p->wal);
  p->real->pMethods->xShmBarrier(p->real);
}

static int gShmUnmap(sqlite3_file *f, int deleteFlag) {
  GatheringFile *p = (GatheringFile *)f;
  return p->real->pMethods->xShmUnmap(p->real, deleteFlag);
}

static int gFetch(sqlite3_file *f, sqlite3_int64 offset, int amount, void **out) {
  GatheringFile *p = (GatheringFile *)f;
  WRITE_GATHERED_FIRST(p);
  return p->real->pMethods->xFetch(p->real, offset, amount, out);
}

static int gUnfetch(sqlite3_file *f, sqlite3_int64 offset, void *page) {
  GatheringFile *p = (GatheringFile *)f;
  return p->real->pMethods->xUnfetch(p->real, offset, page);
}

static const sqlite3_io_methods gatheringMethods = {
  3, gClose, gRead, gWrite, gTruncate, gSync, gFileSize, gLock, gUnlock, gCheckReservedLock,
  gFileControl, gSectorSize, gDeviceCharacteristics, gShmMap, gShmLock, gShmBarrier, gShmUnmap,
  gFetch, gUnfetch,
};

static int gOpen(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *outFlags) {
  (void)vfs;
  GatheringFile *p = (GatheringFile *)f;
  memset(p, 0, sizeof(*p));
  p->real = (sqlite3_file *)&p[1];
  int rc = realVfs->xOpen(realVfs, name, p->real, flags, outFlags);
  /* SQLite calls xClose only on files whose pMethods is set: leave it unset when opening failed. */
  if (rc != SQLITE_OK || !p->real->pMethods) return rc;
  /* The shim forwards version-3 methods (shared memory, fetch): the unix VFS's files have them. */
  if (p->real->pMethods->iVersion < 3) {
    p->real->pMethods->xClose(p->real);
    return SQLITE_CANTOPEN;
  }
  p->isWal = (flags & SQLITE_OPEN_WAL) != 0;
  if (p->isWal) {
    GatheringFile *db = (GatheringFile *)sqlite3_database_file_object(name);
    if (db && db->base.pMethods == &gatheringMethods) {
      db->wal = p;
      p->db = db;
    }
  }
  p->base.pMethods = &gatheringMethods;
  return SQLITE_OK;
}

static int gDelete(sqlite3_vfs *v, const char *n, int s) { (void)v; return realVfs->xDelete(realVfs, n, s); }
static int gAccess(sqlite3_vfs *v, const char *n, int f, int *o) { (void)v; return realVfs->xAccess(realVfs, n, f, o); }
static int gFullPathname(sqlite3_vfs *v, const char *n, int l, char *o) { (void)v; return realVfs->xFullPathname(realVfs, n, l, o); }
static void *gDlOpen(sqlite3_vfs *v, const char *n) { (void)v; return realVfs->xDlOpen(realVfs, n); }
static void gDlError(sqlite3_vfs *v, int l, char *o) { (void)v; realVfs->xDlError(realVfs, l, o); }
static void (*gDlSym(sqlite3_vfs *v, void *h, const char *s))(void) { (void)v; return realVfs->xDlSym(realVfs, h, s); }
static void gDlClose(sqlite3_vfs *v, void *h) { (void)v; realVfs->xDlClose(realVfs, h); }
static int gRandomness(sqlite3_vfs *v, int n, char *o) { (void)v; return realVfs->xRandomness(realVfs, n, o); }
static int gSleep(sqlite3_vfs *v, int us) { (void)v; return realVfs->xSleep(realVfs, us); }
static int gCurrentTime(sqlite3_vfs *v, double *o) { (void)v; return realVfs->xCurrentTime(realVfs, o); }
static int gGetLastError(sqlite3_vfs *v, int n, char *o) { (void)v; return realVfs->xGetLastError(realVfs, n, o); }
static int gCurrentTimeInt64(sqlite3_vfs *v, sqlite3_int64 *o) { (void)v; return realVfs->xCurrentTimeInt64(realVfs, o); }
static int gSetSystemCall(sqlite3_vfs *v, const char *n, sqlite3_syscall_ptr f) { (void)v; return realVfs->xSetSystemCall(realVfs, n, f); }
static sqlite3_syscall_ptr gGetSystemCall(sqlite3_vfs *v, const char *n) { (void)v; return realVfs->xGetSystemCall(realVfs, n); }
static const char *gNextSystemCall(sqlite3_vfs *v, const char *n) { (void)v; return realVfs->xNextSystemCall(realVfs, n); }

#ifdef _WIN32
__declspec(dllexport)
#endif
int sqlite3_qfarmwalgathering_init(sqlite3 *db, char **error, const sqlite3_api_routines *api) {
  (void)db;
  SQLITE_EXTENSION_INIT2(api);
  if (sqlite3_vfs_find("qfarm-gathering")) return SQLITE_OK_LOAD_PERMANENTLY;
  realVfs = sqlite3_vfs_find(0);
  if (!realVfs || realVfs->iVersion < 3) {
    *error = sqlite3_mprintf("qfarm-gathering: the default SQLite VFS is missing or older than version 3");
    return SQLITE_ERROR;
  }
  gatheringVfs = (sqlite3_vfs){
    3, (int)sizeof(GatheringFile) + realVfs->szOsFile, realVfs->mxPathname, 0, "qfarm-gathering", 0,
    gOpen, gDelete, gAccess, gFullPathname, gDlOpen, gDlError, gDlSym, gDlClose, gRandomness, gSleep,
    gCurrentTime, gGetLastError, gCurrentTimeInt64, gSetSystemCall, gGetSystemCall, gNextSystemCall,
  };
  int rc = sqlite3_vfs_register(&gatheringVfs, 1);
  return rc == SQLITE_OK ? SQLITE_OK_LOAD_PERMANENTLY : rc;
}
