//! A FUSE filesystem that loses, on a simulated power cut, every write not made durable,
//! in the manner of LazyFS: the power-cut test of the event store (`tests/tests/powercut.rs`)
//! runs the store on it.
//!
//! Usage: `powercut_fs <backing dir> <mountpoint>` (as root, with `/dev/fuse`). It mounts a
//! passthrough view of the backing directory and prints `MOUNTED` once the mount is ready.
//!
//! - File data written (`write`, truncation by `setattr`/`O_TRUNC`) is kept in memory per
//!   file, in 4 KiB pages over the backing file, and served from there; only `fsync` or
//!   `fdatasync` of the file writes it into the backing file. The backing directory
//!   therefore always holds exactly what a disk would keep if the power went off now.
//!   `sync_file_range` never reaches a FUSE filesystem, so it makes nothing durable here
//!   (on a disk it neither flushes the drive's cache nor writes the file's size).
//! - Metadata (create, mkdir, rename, unlink, permissions) goes to the backing directory at
//!   once, so it counts as durable immediately, as in LazyFS; a real filesystem can lose a
//!   new directory entry whose directory was not fsynced. Not modelled.
//! - Every file is opened with direct I/O, so the kernel caches no file data either.
//!
//! Standard input is the control line. `CUT` is the power cut: under the lock every
//! operation takes (so no sync can complete after it), it detaches the mount, prints
//! `CUT unsynced_bytes=<n> unsynced_files=<n> syncs=<n>` (what it is dropping, and how many
//! syncs it served) and exits at once without writing anything. End of input unmounts and
//! exits, equally without writing what was not synced.

#![allow(unsafe_code)] // mount/umount, statvfs and _exit are libc calls.

mod overlay;

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::ffi::{CString, OsStr};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead as _, Write as _};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{DirBuilderExt as _, FileExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{
    AccessFlags, BsdFileFlags, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags,
    Generation, INodeNo, LockOwner, MountOption, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate,
    ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request,
    Session, TimeOrNow, WriteFlags,
};

use overlay::{Backing as _, Unsynced};

/// Attributes and entries may be cached this long: nothing but this filesystem changes the
/// backing directory while it is mounted.
const TTL: Duration = Duration::from_secs(1);

struct PowercutFs {
    root: PathBuf,
    /// Shared with the control thread, which takes it for the power cut.
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    /// Inode number -> path relative to the backing root ("" for the root).
    paths: HashMap<u64, PathBuf>,
    inodes: HashMap<PathBuf, u64>,
    next_inode: u64,
    /// Per inode, what was written since its last sync.
    unsynced: HashMap<u64, Unsynced>,
    files: HashMap<u64, OpenFile>,
    dirs: HashMap<u64, Vec<(u64, FileType, PathBuf)>>,
    next_handle: u64,
    syncs: u64,
}

struct OpenFile {
    inode: u64,
    /// The backing file, opened for reading and writing whatever the user asked: a sync
    /// through a read-only descriptor still writes.
    file: File,
}

fn errno(error: io::Error) -> Errno {
    let code = error.raw_os_error().unwrap_or(libc::EIO);
    Errno::from_i32(code)
}

fn file_type(kind: fs::FileType) -> FileType {
    FileType::from_std(kind).unwrap_or(FileType::RegularFile)
}

fn time(seconds: i64, nanos: i64) -> SystemTime {
    if seconds >= 0 {
        UNIX_EPOCH + Duration::new(seconds as u64, nanos as u32)
    } else {
        UNIX_EPOCH - Duration::from_secs(seconds.unsigned_abs())
    }
}

fn attr(inode: u64, meta: &fs::Metadata, size: Option<u64>) -> FileAttr {
    let size = size.unwrap_or(meta.len());
    FileAttr {
        ino: INodeNo(inode),
        size,
        blocks: size.div_ceil(512),
        atime: time(meta.atime(), meta.atime_nsec()),
        mtime: time(meta.mtime(), meta.mtime_nsec()),
        ctime: time(meta.ctime(), meta.ctime_nsec()),
        crtime: time(meta.ctime(), meta.ctime_nsec()),
        kind: file_type(meta.file_type()),
        perm: (meta.mode() & 0o7777) as u16,
        nlink: meta.nlink() as u32,
        uid: meta.uid(),
        gid: meta.gid(),
        rdev: meta.rdev() as u32,
        blksize: overlay::PAGE as u32,
        flags: 0,
    }
}

impl State {
    fn path(&self, inode: INodeNo) -> Result<&Path, Errno> {
        self.paths
            .get(&inode.0)
            .map(PathBuf::as_path)
            .ok_or(Errno::ENOENT)
    }

    fn inode_for(&mut self, path: &Path) -> u64 {
        if let Some(&inode) = self.inodes.get(path) {
            return inode;
        }
        self.next_inode += 1;
        let inode = self.next_inode;
        self.paths.insert(inode, path.to_owned());
        self.inodes.insert(path.to_owned(), inode);
        inode
    }

    /// A name is gone (unlinked, or replaced by a rename): so is what was unsynced in it.
    fn forget_path(&mut self, path: &Path) {
        if let Some(inode) = self.inodes.remove(path) {
            self.paths.remove(&inode);
            self.unsynced.remove(&inode);
        }
    }

    fn new_handle(&mut self) -> u64 {
        self.next_handle += 1;
        self.next_handle
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// The power cut: nothing unsynced is written, and nothing can be synced after this.
fn power_cut(state: &Mutex<State>, mountpoint: &Path) -> ! {
    let state = lock(state);
    let bytes: u64 = state.unsynced.values().map(Unsynced::held_bytes).sum();
    let files = state.unsynced.len();
    // Printed first: once the mount is gone the session ends and `main` may return.
    let mut stdout = io::stdout().lock();
    let _ = writeln!(
        stdout,
        "CUT unsynced_bytes={bytes} unsynced_files={files} syncs={}",
        state.syncs
    );
    let _ = stdout.flush();
    if let Ok(path) = CString::new(mountpoint.as_os_str().as_bytes()) {
        // SAFETY: a valid C string; a failure leaves the dead mount for the caller.
        unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) };
    }
    // SAFETY: ends the process at once, running no destructor that could write.
    unsafe { libc::_exit(0) }
}

impl PowercutFs {
    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    fn full(&self, relative: &Path) -> PathBuf {
        self.root.join(relative)
    }

    /// Attributes of an inode, with the size its users see.
    fn attr_of(&self, state: &State, inode: u64, relative: &Path) -> Result<FileAttr, Errno> {
        let meta = fs::symlink_metadata(self.full(relative)).map_err(errno)?;
        let size = state.unsynced.get(&inode).map(Unsynced::size);
        Ok(attr(inode, &meta, size))
    }

    fn entry(&self, parent: INodeNo, name: &OsStr) -> Result<(FileAttr, u64), Errno> {
        let mut state = self.lock();
        let relative = state.path(parent)?.join(name);
        let inode = state.inode_for(&relative);
        Ok((self.attr_of(&state, inode, &relative)?, inode))
    }

    fn open_backing(&self, relative: &Path) -> io::Result<File> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .open(self.full(relative))
    }

    /// Runs `change` on the inode's unsynced state, created over the backing file if the
    /// inode had none.
    fn with_unsynced<T>(
        state: &mut State,
        inode: u64,
        backing: &File,
        change: impl FnOnce(&mut Unsynced, &File) -> io::Result<T>,
    ) -> Result<T, Errno> {
        let unsynced = match state.unsynced.entry(inode) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => entry.insert(Unsynced::new(backing.size().map_err(errno)?)),
        };
        change(unsynced, backing).map_err(errno)
    }

    fn truncate(&self, inode: INodeNo, handle: Option<FileHandle>, size: u64) -> Result<(), Errno> {
        let mut state = self.lock();
        let relative = state.path(inode)?.to_owned();
        let opened;
        let backing = match handle.and_then(|h| state.files.get(&h.0)) {
            Some(open) => open.file.try_clone().map_err(errno)?,
            None => {
                opened = self.open_backing(&relative).map_err(errno)?;
                opened
            }
        };
        Self::with_unsynced(&mut state, inode.0, &backing, |unsynced, file| {
            unsynced.truncate(file, size)
        })
    }
}

impl Filesystem for PowercutFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        match self.entry(parent, name) {
            Ok((attr, _)) => reply.entry(&TTL, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, fh: Option<FileHandle>, reply: ReplyAttr) {
        let state = self.lock();
        // An open file may have been unlinked: ask its descriptor.
        if let Some(open) = fh.and_then(|h| state.files.get(&h.0)) {
            let result = open.file.metadata().map(|meta| {
                let size = state.unsynced.get(&open.inode).map(Unsynced::size);
                attr(open.inode, &meta, size)
            });
            return match result {
                Ok(attr) => reply.attr(&TTL, &attr),
                Err(e) => reply.error(errno(e)),
            };
        }
        let result = state
            .path(ino)
            .and_then(|relative| self.attr_of(&state, ino.0, relative));
        match result {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let result = (|| {
            let relative = self.lock().path(ino)?.to_owned();
            let full = self.full(&relative);
            if let Some(mode) = mode {
                use std::os::unix::fs::PermissionsExt as _;
                fs::set_permissions(&full, fs::Permissions::from_mode(mode)).map_err(errno)?;
            }
            if uid.is_some() || gid.is_some() {
                std::os::unix::fs::chown(&full, uid, gid).map_err(errno)?;
            }
            if let Some(size) = size {
                self.truncate(ino, fh, size)?;
            }
            // Times are left as the backing file has them.
            let state = self.lock();
            self.attr_of(&state, ino.0, &relative)
        })();
        match result {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let result = (|| {
            let relative = self.lock().path(parent)?.join(name);
            fs::DirBuilder::new()
                .mode(mode & !umask)
                .create(self.full(&relative))
                .map_err(errno)?;
            self.entry(parent, name)
        })();
        match result {
            Ok((attr, _)) => reply.entry(&TTL, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let mut state = self.lock();
        let result = state
            .path(parent)
            .map(|p| p.join(name))
            .and_then(|relative| {
                fs::remove_file(self.full(&relative)).map_err(errno)?;
                state.forget_path(&relative);
                Ok(())
            });
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let mut state = self.lock();
        let result = state
            .path(parent)
            .map(|p| p.join(name))
            .and_then(|relative| {
                fs::remove_dir(self.full(&relative)).map_err(errno)?;
                state.forget_path(&relative);
                Ok(())
            });
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        if !flags.is_empty() {
            reply.error(Errno::EINVAL);
            return;
        }
        let mut state = self.lock();
        let result = (|| {
            let from = state.path(parent)?.join(name);
            let to = state.path(newparent)?.join(newname);
            fs::rename(self.full(&from), self.full(&to)).map_err(errno)?;
            state.forget_path(&to);
            // The moved inode, and everything under it if it is a directory, keep their
            // numbers (and their unsynced data) under the new names.
            let moved: Vec<(PathBuf, u64)> = state
                .inodes
                .iter()
                .filter(|(path, _)| path.starts_with(&from))
                .map(|(path, &inode)| (path.clone(), inode))
                .collect();
            for (old, inode) in moved {
                let new = to.join(old.strip_prefix(&from).expect("filtered by prefix"));
                state.inodes.remove(&old);
                state.inodes.insert(new.clone(), inode);
                state.paths.insert(inode, new);
            }
            Ok(())
        })();
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let mut state = self.lock();
        let result = state.path(ino).map(Path::to_owned).and_then(|relative| {
            let file = self.open_backing(&relative).map_err(errno)?;
            if flags.0 & libc::O_TRUNC != 0 {
                Self::with_unsynced(&mut state, ino.0, &file, |u, f| u.truncate(f, 0))?;
            }
            let handle = state.new_handle();
            state.files.insert(handle, OpenFile { inode: ino.0, file });
            Ok(handle)
        });
        match result {
            Ok(handle) => reply.opened(FileHandle(handle), FopenFlags::FOPEN_DIRECT_IO),
            Err(e) => reply.error(e),
        }
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let result = (|| {
            let relative = self.lock().path(parent)?.join(name);
            let mut options = OpenOptions::new();
            options.read(true).write(true).mode(mode & !umask);
            if flags & libc::O_EXCL != 0 {
                options.create_new(true);
            } else {
                options.create(true);
            }
            let file = options.open(self.full(&relative)).map_err(errno)?;
            let (attr, inode) = self.entry(parent, name)?;
            let mut state = self.lock();
            if flags & libc::O_TRUNC != 0 {
                Self::with_unsynced(&mut state, inode, &file, |u, f| u.truncate(f, 0))?;
            }
            let handle = state.new_handle();
            state.files.insert(handle, OpenFile { inode, file });
            Ok((attr, handle))
        })();
        match result {
            Ok((attr, handle)) => reply.created(
                &TTL,
                &attr,
                Generation(0),
                FileHandle(handle),
                FopenFlags::FOPEN_DIRECT_IO,
            ),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let state = self.lock();
        let Some(open) = state.files.get(&fh.0) else {
            reply.error(Errno::EBADF);
            return;
        };
        let result = match state.unsynced.get(&open.inode) {
            Some(unsynced) => unsynced.read(&open.file, offset, size as usize),
            None => {
                let mut buf = vec![0; size as usize];
                open.file.read_at(&mut buf, offset).map(|n| {
                    buf.truncate(n);
                    buf
                })
            }
        };
        match result {
            Ok(data) => reply.data(&data),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let mut state = self.lock();
        let Some(open) = state.files.get(&fh.0) else {
            reply.error(Errno::EBADF);
            return;
        };
        let (inode, file) = match open.file.try_clone() {
            Ok(file) => (open.inode, file),
            Err(e) => {
                reply.error(errno(e));
                return;
            }
        };
        match Self::with_unsynced(&mut state, inode, &file, |u, f| u.write(f, offset, data)) {
            Ok(()) => reply.written(data.len() as u32),
            Err(e) => reply.error(e),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        // close() makes nothing durable.
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.lock().files.remove(&fh.0);
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        let mut state = self.lock();
        let Some(open) = state.files.get(&fh.0) else {
            reply.error(Errno::EBADF);
            return;
        };
        let inode = open.inode;
        let result = match (state.unsynced.get(&inode), open.file.try_clone()) {
            (None, _) => Ok(()),
            (Some(unsynced), Ok(mut file)) => unsynced.apply(&mut file),
            (Some(_), Err(e)) => Err(e),
        };
        match result {
            Ok(()) => {
                state.unsynced.remove(&inode);
                state.syncs += 1;
                reply.ok();
            }
            Err(e) => reply.error(errno(e)),
        }
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let mut state = self.lock();
        let result = (|| {
            let relative = state.path(ino)?.to_owned();
            let mut entries = vec![
                (ino.0, FileType::Directory, PathBuf::from(".")),
                (ino.0, FileType::Directory, PathBuf::from("..")),
            ];
            for entry in fs::read_dir(self.full(&relative)).map_err(errno)? {
                let entry = entry.map_err(errno)?;
                let kind = file_type(entry.file_type().map_err(errno)?);
                let inode = state.inode_for(&relative.join(entry.file_name()));
                entries.push((inode, kind, PathBuf::from(entry.file_name())));
            }
            let handle = state.new_handle();
            state.dirs.insert(handle, entries);
            Ok(handle)
        })();
        match result {
            Ok(handle) => reply.opened(FileHandle(handle), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let state = self.lock();
        let Some(entries) = state.dirs.get(&fh.0) else {
            reply.error(Errno::EBADF);
            return;
        };
        for (index, (inode, kind, name)) in entries.iter().enumerate().skip(offset as usize) {
            if reply.add(INodeNo(*inode), index as u64 + 1, *kind, name) {
                break;
            }
        }
        reply.ok();
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        self.lock().dirs.remove(&fh.0);
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        // Directory entries are durable at once here (not modelled).
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let Ok(path) = CString::new(self.root.as_os_str().as_bytes()) else {
            reply.error(Errno::EINVAL);
            return;
        };
        // SAFETY: statvfs fills the zeroed struct from a valid C string path.
        let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::statvfs(path.as_ptr(), &mut stat) } != 0 {
            reply.error(errno(io::Error::last_os_error()));
            return;
        }
        reply.statfs(
            stat.f_blocks,
            stat.f_bfree,
            stat.f_bavail,
            stat.f_files,
            stat.f_ffree,
            stat.f_bsize as u32,
            stat.f_namemax as u32,
            stat.f_frsize as u32,
        );
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: AccessFlags, reply: ReplyEmpty) {
        reply.ok();
    }

    fn fallocate(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _offset: u64,
        _length: u64,
        _mode: i32,
        reply: ReplyEmpty,
    ) {
        reply.error(Errno::EOPNOTSUPP);
    }
}

fn main() {
    let mut args = std::env::args_os().skip(1);
    let (Some(backing), Some(mountpoint)) = (args.next(), args.next()) else {
        eprintln!("usage: powercut_fs <backing dir> <mountpoint>");
        std::process::exit(2);
    };
    let root = fs::canonicalize(&backing).unwrap_or_else(|e| {
        eprintln!("powercut_fs: backing dir {backing:?}: {e}");
        std::process::exit(2);
    });
    let mountpoint = PathBuf::from(mountpoint);
    let mut state = State {
        next_inode: INodeNo::ROOT.0,
        ..State::default()
    };
    state.paths.insert(INodeNo::ROOT.0, PathBuf::new());
    state.inodes.insert(PathBuf::new(), INodeNo::ROOT.0);
    let state = Arc::new(Mutex::new(state));
    let fs = PowercutFs {
        root,
        state: state.clone(),
    };

    let mut config = fuser::Config::default();
    config.mount_options = vec![
        MountOption::FSName("powercut_fs".to_owned()),
        MountOption::Subtype("powercut".to_owned()),
    ];
    config.n_threads = Some(2);
    let mut session = Session::new(fs, &mountpoint, &config).unwrap_or_else(|e| {
        eprintln!("powercut_fs: cannot mount on {}: {e}", mountpoint.display());
        std::process::exit(1);
    });
    let mut unmounter = session.unmount_callable();
    println!("MOUNTED");
    io::stdout().flush().expect("stdout is writable");

    std::thread::spawn(move || {
        for line in io::stdin().lock().lines() {
            match line.as_deref().map(str::trim) {
                Ok("CUT") => power_cut(&state, &mountpoint),
                Ok(other) => eprintln!("powercut_fs: unknown command {other:?}"),
                Err(_) => break,
            }
        }
        // End of input: leave, still writing nothing that was not synced.
        if let Err(e) = unmounter.unmount() {
            eprintln!("powercut_fs: unmount failed: {e}");
        }
    });
    if let Err(e) = session.run() {
        eprintln!("powercut_fs: {e}");
        std::process::exit(1);
    }
}
