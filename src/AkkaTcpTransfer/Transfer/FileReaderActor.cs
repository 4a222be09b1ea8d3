using System.Security.Cryptography;
using Akka.Actor;
using Microsoft.Win32.SafeHandles;

namespace AkkaTcpTransfer.Transfer;

/// <summary>Reads one file for a <see cref="SenderActor"/> (its parent), on the file-io dispatcher: positional reads
/// of whole chunks, SHA-256 over the bytes in order as they are read, the hash of a resume prefix in slices (so a
/// cancel is never stuck behind gigabytes of hashing), and a last check that the file did not change or vanish
/// while it was being sent.</summary>
internal sealed class FileReaderActor : ReceiveActor
{
    public sealed record Read(long Offset, int Count);
    public sealed record ChunkRead(long Offset, byte[] Data);
    /// <summary>Hash the first <paramref name="Length"/> bytes; answered with <see cref="PrefixHashed"/>.</summary>
    public sealed record HashPrefix(long Length);
    public sealed record PrefixHashed(long Length, byte[] Sha256);
    /// <summary>Start hashing over from byte 0 (the receiver's prefix did not match).</summary>
    public sealed record Restart
    {
        public static readonly Restart Instance = new();
        private Restart() { }
    }
    /// <summary>All bytes were read: check the file and answer with <see cref="Finished"/>.</summary>
    public sealed record Finish
    {
        public static readonly Finish Instance = new();
        private Finish() { }
    }
    public sealed record Finished(byte[] Sha256);
    public sealed record ReadFailed(string Reason);

    private sealed record HashSlice(long Position, long Length);

    private const int PrefixSlice = 8 * 1024 * 1024;

    private readonly string _path;
    private readonly long _size;
    private readonly long _fingerprint;
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly byte[] _sliceBuffer;
    private SafeFileHandle? _handle;
    private long _hashed;
    private bool _failed;

    public static Props Props(string path, long size, long fingerprint, string dispatcher) =>
        Akka.Actor.Props.Create(() => new FileReaderActor(path, size, fingerprint)).WithDispatcher(dispatcher);

    public FileReaderActor(string path, long size, long fingerprint)
    {
        _path = path;
        _size = size;
        _fingerprint = fingerprint;
        _sliceBuffer = new byte[64 * 1024];
        Receive<Read>(OnRead);
        Receive<HashPrefix>(h => Self.Tell(new HashSlice(0, h.Length), Sender));
        Receive<HashSlice>(OnHashSlice);
        Receive<Restart>(_ =>
        {
            _hash.GetHashAndReset();
            _hashed = 0;
        });
        Receive<Finish>(_ => OnFinish());
    }

    protected override void PreStart()
    {
        try
        {
            _handle = File.OpenHandle(_path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Fail($"cannot open '{_path}': {e.Message}");
        }
    }

    private void OnRead(Read read)
    {
        if (_failed) return;
        var data = new byte[read.Count];
        int n;
        try
        {
            n = ReadFully(read.Offset, data);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Fail($"cannot read '{_path}': {e.Message}");
            return;
        }
        if (n < read.Count)
        {
            Fail($"'{Path.GetFileName(_path)}' changed while it was being sent (it became shorter)");
            return;
        }
        if (read.Offset != _hashed)
        {
            Fail($"internal error: read at {read.Offset} while the hash is at {_hashed}");
            return;
        }
        _hash.AppendData(data);
        _hashed += n;
        Sender.Tell(new ChunkRead(read.Offset, data));
    }

    private void OnHashSlice(HashSlice slice)
    {
        if (_failed) return;
        if (slice.Position == 0 && _hashed != 0)
        {
            _hash.GetHashAndReset();
            _hashed = 0;
        }
        var end = Math.Min(slice.Length, slice.Position + PrefixSlice);
        try
        {
            for (var pos = slice.Position; pos < end;)
            {
                var want = (int)Math.Min(_sliceBuffer.Length, end - pos);
                var n = ReadFully(pos, _sliceBuffer.AsSpan(0, want));
                if (n < want)
                {
                    Fail($"'{Path.GetFileName(_path)}' is shorter than the receiver's partial copy");
                    return;
                }
                _hash.AppendData(_sliceBuffer.AsSpan(0, n));
                pos += n;
                _hashed = pos;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Fail($"cannot read '{_path}': {e.Message}");
            return;
        }
        if (end < slice.Length) Self.Tell(new HashSlice(end, slice.Length), Sender);
        else Sender.Tell(new PrefixHashed(slice.Length, _hash.GetCurrentHash()));
    }

    private void OnFinish()
    {
        if (_failed) return;
        var name = Path.GetFileName(_path);
        try
        {
            var info = new FileInfo(_path);
            if (!info.Exists)
            {
                Fail($"'{name}' vanished while it was being sent");
                return;
            }
            if (info.Length != _size || info.LastWriteTimeUtc.Ticks != _fingerprint)
            {
                Fail($"'{name}' changed while it was being sent");
                return;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Fail($"cannot check '{_path}': {e.Message}");
            return;
        }
        Sender.Tell(new Finished(_hash.GetHashAndReset()));
    }

    private int ReadFully(long offset, Span<byte> buffer)
    {
        var total = 0;
        while (total < buffer.Length)
        {
            var n = RandomAccess.Read(_handle!, buffer[total..], offset + total);
            if (n == 0) break;
            total += n;
        }
        return total;
    }

    private void Fail(string reason)
    {
        _failed = true;
        Context.Parent.Tell(new ReadFailed(reason));
    }

    protected override void PostStop()
    {
        _handle?.Dispose();
        _hash.Dispose();
    }
}
