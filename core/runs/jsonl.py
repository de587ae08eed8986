"""JSON-lines files: appending whole lines (writer), and following a file incrementally (reader)."""

from __future__ import annotations

import json
import os

from .layout import json_line, open_regular

HEAD_BYTES = 256  # the first bytes of a followed file, compared on each poll to notice a rewrite in place
READ_LIMIT = 32 << 20  # bytes read per poll at most; a bigger backlog is read over several polls


class JsonlAppender:
    """An append-only JSON-lines file: each record is written with one write() of a complete line."""

    def __init__(self, path):
        self.path = os.fspath(path)
        # Unbuffered, O_APPEND: every line goes to the end of the file in one system call, so a reader or a
        # crash sees whole lines only (plus, at worst, one partial last line that readers wait on).
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._ends_mid_line = self._last_byte_is_not_newline()

    def _last_byte_is_not_newline(self) -> bool:
        size = os.fstat(self._fd).st_size
        if size == 0:
            return False
        with open(self.path, "rb") as f:
            f.seek(size - 1)
            return f.read(1) != b"\n"

    def append(self, record: dict) -> None:
        line = json_line(record)
        if self._ends_mid_line:  # a crashed writer's partial line: end it, so ours starts on a line of its own
            line = b"\n" + line
            self._ends_mid_line = False
        written = os.write(self._fd, line)
        while written < len(line):  # only on odd file systems; the line is still completed
            written += os.write(self._fd, line[written:])

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class JsonlFollower:
    """Follows a JSON-lines file being appended to: each poll() parses only the lines completed since the last.

    A partial last line is left for a later poll. A file truncated, replaced (another inode) or rewritten in
    place (its first bytes changed) is read again from its start, and poll() says so.
    """

    def __init__(self, path, read_limit: int = READ_LIMIT):
        self.path = os.fspath(path)
        self.read_limit = int(read_limit)
        self.offset = 0  # bytes of complete lines consumed
        self.identity: tuple[int, int] | None = None  # (st_dev, st_ino) of the file being followed
        self.head = b""  # its first bytes, as consumed
        self.bad_lines = 0  # complete lines that were not JSON objects (skipped)
        self.pending = False  # bytes remain beyond offset (a partial line, or a backlog over read_limit)
        self.mtime = None  # the file's st_mtime at the last poll, None when absent
        self._skipping = False  # inside an over-long line, discarding up to its newline

    def reset(self) -> None:
        self.offset, self.identity, self.head, self.bad_lines, self._skipping = 0, None, b"", 0, False

    def poll(self) -> tuple[list[dict], bool]:
        """(records completed since the last poll, restarted): restarted means the file was truncated, replaced
        or vanished and everything returned before must be dropped. OSError other than absence propagates (also
        for a path that is not a regular file, such as a named pipe, which is never opened for a blocking read)."""
        try:
            f = open_regular(self.path)
        except FileNotFoundError:
            restarted = self.identity is not None
            self.reset()
            self.pending, self.mtime = False, None
            return [], restarted
        with f:
            st = os.fstat(f.fileno())
            self.mtime = st.st_mtime
            restarted = False
            identity = (st.st_dev, st.st_ino)
            if self.identity is not None and (identity != self.identity or st.st_size < self.offset
                                              or not self._same_head(f)):
                self.reset()
                restarted = True
            self.identity = identity
            if st.st_size <= self.offset:
                self.pending = False
                return [], restarted
            f.seek(self.offset)
            data = f.read(self.read_limit)
        end = data.rfind(b"\n") + 1  # bytes of complete lines
        self.pending = self.offset + len(data) < st.st_size or end < len(data)
        if end == 0:
            if len(data) >= self.read_limit:  # one line longer than the limit: skip it
                self._skipping, self.offset = True, self.offset + len(data)
            return [], restarted
        complete = data[:end]
        if len(self.head) < HEAD_BYTES:
            self.head = (self.head + complete)[:HEAD_BYTES]
        self.offset += end
        return self._parse(complete), restarted

    def _same_head(self, f) -> bool:
        if not self.head:
            return True
        f.seek(0)
        return f.read(len(self.head)) == self.head

    def _parse(self, complete: bytes) -> list[dict]:
        lines = complete.split(b"\n")[:-1]
        if self._skipping:
            lines, self._skipping = lines[1:], False
            self.bad_lines += 1
        lines = [line for line in lines if line.strip()]
        try:  # one parse for the whole batch is about twice as fast as one per line
            records = json.loads(b"[" + b",".join(lines) + b"]")
            if len(records) == len(lines) and all(type(r) is dict for r in records):
                return records
        except ValueError:  # also UnicodeDecodeError: a bad line somewhere; find it line by line
            pass
        records = []
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:  # also UnicodeDecodeError
                record = None
            if isinstance(record, dict):
                records.append(record)
            else:
                self.bad_lines += 1
        return records
