using System.Security.Cryptography;
using System.Text.RegularExpressions;

namespace AkkaTcpTransfer.Protocol.Tests;

/// <summary>The folder stream (docs/PROTOCOL.md, "Folders"): its example in the doc holds, headers encode to the golden
/// bytes, and every malformed header is refused before anything is allocated for it.</summary>
public partial class FolderStreamTests
{
    [GeneratedRegex(@"^entry\s+(?<header>[0-9a-f ]+?)\s*\|\s*(?<content>[0-9a-f]*)\s*\|\s*(?<sha>[0-9a-f]{64})\s*$", RegexOptions.Multiline)]
    private static partial Regex EntryLine();

    [GeneratedRegex(@"^(?<name>size|fingerprint|digest)\s+(?<value>[0-9a-f]+)\s*$", RegexOptions.Multiline)]
    private static partial Regex ValueLine();

    [Fact]
    public void The_docs_folder_example_decodes_re_encodes_adds_up_and_has_the_digest_shown()
    {
        var doc = ProtocolDocTests.ReadDoc();
        var section = doc[doc.IndexOf("### A folder stream in hex", StringComparison.Ordinal)..];
        var entries = EntryLine().Matches(section);
        Assert.Equal(2, entries.Count);
        var values = ValueLine().Matches(section).ToDictionary(m => m.Groups["name"].Value, m => m.Groups["value"].Value);
        long length = 0;
        var headers = new List<byte[]>();
        using var digest = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (Match entry in entries)
        {
            var header = Convert.FromHexString(entry.Groups["header"].Value.Replace(" ", "", StringComparison.Ordinal));
            var content = Convert.FromHexString(entry.Groups["content"].Value);
            var sha = Convert.FromHexString(entry.Groups["sha"].Value);
            Assert.Equal(header.Length, FolderStream.HeaderLength(header));
            var (path, size, fingerprint) = FolderStream.DecodeHeader(header);
            Assert.Equal(content.Length, size);
            Assert.Equal(header, FolderStream.EncodeHeader(path, size, fingerprint));
            Assert.Equal(SHA256.HashData(content), sha);
            length += FolderStream.EntryLength(header.Length, size);
            headers.Add(header);
            digest.AppendData(header);
            digest.AppendData(sha);
        }
        Assert.Equal(long.Parse(values["size"]), length);
        Assert.Equal(long.Parse(values["fingerprint"]), FolderStream.Fingerprint(headers));
        Assert.Equal(values["digest"], Convert.ToHexStringLower(digest.GetHashAndReset()));
        Assert.Contains("`size` 112, `fingerprint` 1570676783838688820", doc, StringComparison.Ordinal);
    }

    [Fact]
    public void A_header_is_path_size_and_fingerprint_big_endian()
    {
        Assert.Equal("0003 c3a97a 0000000100000000 ffffffffffffffff".Replace(" ", "", StringComparison.Ordinal),
            Convert.ToHexStringLower(FolderStream.EncodeHeader("éz", 1L << 32, -1)));
    }

    [Theory]
    [InlineData("0000", "an entry path of 0 bytes")]
    [InlineData("1001", "an entry path of 4097 bytes")]
    public void A_path_length_of_zero_or_above_4096_is_refused_from_the_first_two_bytes(string firstTwo, string reason)
    {
        var e = Assert.Throws<FolderStreamException>(() => FolderStream.HeaderLength(Convert.FromHexString(firstTwo)));
        Assert.Contains(reason, e.Message, StringComparison.Ordinal);
        Assert.Equal(FolderStream.FixedHeaderBytes + 4096, FolderStream.HeaderLength(Convert.FromHexString("1000")));
    }

    [Fact]
    public void Invalid_utf8_a_negative_size_or_a_header_of_the_wrong_length_is_refused()
    {
        var good = FolderStream.EncodeHeader("ab", 5, 0);
        var badUtf8 = (byte[])good.Clone();
        badUtf8[2] = 0xc3; // a lead byte followed by 'b'
        Assert.Contains("UTF-8", Assert.Throws<FolderStreamException>(() => FolderStream.DecodeHeader(badUtf8)).Message, StringComparison.Ordinal);
        var negative = (byte[])good.Clone();
        negative[4] = 0x80;
        Assert.Contains("size of -", Assert.Throws<FolderStreamException>(() => FolderStream.DecodeHeader(negative)).Message, StringComparison.Ordinal);
        Assert.Throws<FolderStreamException>(() => FolderStream.DecodeHeader(good.AsSpan(0, good.Length - 1)));
        Assert.Equal(("ab", 5L, 0L), FolderStream.DecodeHeader(good));
    }

    [Theory]
    [InlineData("album/", true)]
    [InlineData("album", false)]
    [InlineData("/", false)]
    [InlineData("album/b.bin", false)]
    public void Only_a_name_ending_in_a_slash_offers_a_folder(string file, bool folder) =>
        Assert.Equal(folder, FolderStream.IsFolderOffer(file));
}
