using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace AkkaTcpTransfer.Protocol;

/// <summary>The bytes a folder transfer carries. An <c>Offer</c> whose <c>file</c> ends in '/' offers many files of one
/// folder as one transfer; its <c>Chunk</c>s then carry, back to back, one <b>entry</b> per file:
/// <c>path</c> str (relative to the folder, '/' separators), <c>size</c> i64, <c>fingerprint</c> i64 (the file's
/// last-write time), <c>size</c> bytes of content, then the 32-byte SHA-256 of that content. The offer's <c>size</c> is
/// the length of the whole stream. <c>Done.sha256</c> (and a resume's <c>prefix_sha256</c>) is the <b>folder digest</b>:
/// SHA-256 over every entry's header and trailing SHA-256, content left out (each content is already bound to its own
/// hash), so a resume at an entry boundary needs no file re-read at the receiver. See docs/PROTOCOL.md, "Folders".</summary>
public static class FolderStream
{
    /// <summary>The header's fixed part: path length (u16), size (i64), fingerprint (i64).</summary>
    public const int FixedHeaderBytes = 2 + 8 + 8;

    public const int TrailerBytes = ProtocolLimits.Sha256Length;

    /// <summary>The longest header: a path of <see cref="ProtocolLimits.MaxFileNameBytes"/>.</summary>
    public const int MaxHeaderBytes = FixedHeaderBytes + ProtocolLimits.MaxFileNameBytes;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>An offered name that stands for a folder sent as one transfer ("album/").</summary>
    public static bool IsFolderOffer(string file) => file.Length > 1 && file[^1] == '/';

    public static string FolderOfferName(string folder) => folder + "/";

    /// <summary>The entry's header: path, size, fingerprint.</summary>
    /// <exception cref="ArgumentException">An empty path, one longer than <see cref="ProtocolLimits.MaxFileNameBytes"/>,
    /// or a negative size.</exception>
    public static byte[] EncodeHeader(string path, long size, long fingerprint)
    {
        var length = Encoding.UTF8.GetByteCount(path);
        if (length == 0 || length > ProtocolLimits.MaxFileNameBytes)
            throw new ArgumentException($"an entry path must be 1..{ProtocolLimits.MaxFileNameBytes} bytes, got {length}", nameof(path));
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        var header = new byte[FixedHeaderBytes + length];
        BinaryPrimitives.WriteUInt16BigEndian(header, (ushort)length);
        Encoding.UTF8.GetBytes(path, header.AsSpan(2));
        BinaryPrimitives.WriteInt64BigEndian(header.AsSpan(2 + length), size);
        BinaryPrimitives.WriteInt64BigEndian(header.AsSpan(10 + length), fingerprint);
        return header;
    }

    /// <summary>The whole header's length, from its first two bytes.</summary>
    /// <exception cref="FolderStreamException">A path length of 0 or above the limit.</exception>
    public static int HeaderLength(ReadOnlySpan<byte> firstTwo)
    {
        var length = BinaryPrimitives.ReadUInt16BigEndian(firstTwo);
        if (length == 0 || length > ProtocolLimits.MaxFileNameBytes)
            throw new FolderStreamException($"an entry path of {length} bytes (1..{ProtocolLimits.MaxFileNameBytes} allowed)");
        return FixedHeaderBytes + length;
    }

    /// <exception cref="FolderStreamException">Invalid UTF-8, a negative size, or a header of the wrong length.</exception>
    public static (string Path, long Size, long Fingerprint) DecodeHeader(ReadOnlySpan<byte> header)
    {
        if (header.Length < FixedHeaderBytes || HeaderLength(header) != header.Length)
            throw new FolderStreamException($"an entry header of {header.Length} bytes does not match its path length");
        var length = header.Length - FixedHeaderBytes;
        string path;
        try
        {
            path = StrictUtf8.GetString(header.Slice(2, length));
        }
        catch (DecoderFallbackException)
        {
            throw new FolderStreamException("an entry path is not valid UTF-8");
        }
        var size = BinaryPrimitives.ReadInt64BigEndian(header.Slice(2 + length));
        if (size < 0) throw new FolderStreamException($"an entry size of {size}");
        return (path, size, BinaryPrimitives.ReadInt64BigEndian(header.Slice(10 + length)));
    }

    /// <summary>An entry's length in the stream: header, content, trailing SHA-256.</summary>
    public static long EntryLength(int headerLength, long size) => headerLength + size + TrailerBytes;

    /// <summary>The offer's fingerprint for a folder: the first 8 bytes of SHA-256 over every entry header, as a
    /// non-negative i64. The same files (names, sizes, times) give the same fingerprint, which is what lets a resume
    /// find the receiver's partial.</summary>
    public static long Fingerprint(IEnumerable<byte[]> headers)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var header in headers) hash.AppendData(header);
        return BinaryPrimitives.ReadInt64BigEndian(hash.GetHashAndReset()) & long.MaxValue;
    }
}

/// <summary>A folder transfer's stream broke its format; the transfer fails (the connection carries on).</summary>
public sealed class FolderStreamException(string detail) : ProtocolException($"malformed folder stream: {detail}");
