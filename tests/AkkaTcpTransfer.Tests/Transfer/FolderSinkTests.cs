using System.Text.RegularExpressions;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Tests.Support;
using AkkaTcpTransfer.Transfer.Storage;

namespace AkkaTcpTransfer.Tests.Transfer;

/// <summary>The two ends of a folder transfer on real files, without a network: the doc's example read by both, a
/// journal read back after a restart, entries that contradict each other, a clash found before anything moves, and a
/// folder sent a third time.</summary>
public sealed partial class FolderSinkTests : IDisposable
{
    private readonly Files _files = new();
    private readonly string _downloads;

    public FolderSinkTests() => _downloads = _files.Dir("downloads");

    public void Dispose() => _files.Dispose();

    private string Journal(string name = "j") => Path.Combine(_downloads, SafeNames.PartialsFolder, name + ".part");

    private FolderSink Sink(long size, string folder = "album", int maxFiles = 100, string journal = "j")
    {
        var sink = new FolderSink(Journal(journal), maxFiles, _downloads, folder);
        Assert.True(sink.Open(size, null));
        return sink;
    }

    private static byte[] Entry(string path, byte[] content, long fingerprint = 0) =>
        [.. FolderStream.EncodeHeader(path, content.Length, fingerprint), .. content, .. System.Security.Cryptography.SHA256.HashData(content)];

    [GeneratedRegex(@"^entry\s+(?<header>[0-9a-f ]+?)\s*\|\s*(?<content>[0-9a-f]*)\s*\|\s*(?<sha>[0-9a-f]{64})\s*$", RegexOptions.Multiline)]
    private static partial Regex EntryLine();

    [Fact]
    public void The_docs_example_is_what_our_sender_writes_and_our_receiver_takes_with_the_digest_shown()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(dir.FullName, "docs", "PROTOCOL.md"))) dir = dir.Parent ?? throw new FileNotFoundException("docs/PROTOCOL.md");
        var doc = File.ReadAllText(Path.Combine(dir.FullName, "docs", "PROTOCOL.md"));
        var section = doc[doc.IndexOf("### A folder stream in hex", StringComparison.Ordinal)..];
        byte[] stream = [.. EntryLine().Matches(section).SelectMany(m => Convert.FromHexString(
            (m.Groups["header"].Value + m.Groups["content"].Value + m.Groups["sha"].Value).Replace(" ", "", StringComparison.Ordinal)))];
        var digest = Regex.Match(section, @"^digest\s+([0-9a-f]{64})", RegexOptions.Multiline).Groups[1].Value;
        const long fingerprint = 638000000000000000;

        // Our sender, on files like the example's, writes exactly these bytes.
        var a = _files.Create("src/album/a.txt", 0);
        File.WriteAllText(a, "hi");
        var e = _files.Create("src/album/sub/e", 0);
        var bundle = new FolderBundle("album", [new FolderEntry(a, "a.txt", 2, fingerprint), new FolderEntry(e, "sub/e", 0, fingerprint)]);
        File.SetLastWriteTimeUtc(a, new DateTime(fingerprint, DateTimeKind.Utc));
        File.SetLastWriteTimeUtc(e, new DateTime(fingerprint, DateTimeKind.Utc));
        using (var source = new FolderSource(bundle))
        {
            var read = new byte[stream.Length];
            source.Read(0, read);
            Assert.Equal(Convert.ToHexStringLower(stream), Convert.ToHexStringLower(read));
            Assert.Equal(digest, Convert.ToHexStringLower(source.Finish()));
        }

        // Our receiver, fed them in pieces of 7 bytes, lands the two files and confirms the digest.
        using var sink = Sink(stream.Length);
        for (var at = 0; at < stream.Length; at += 7) sink.Write(at, stream.AsSpan(at, Math.Min(7, stream.Length - at)));
        Assert.Equal(digest, Convert.ToHexStringLower(sink.Complete(sync: false)));
        Assert.Equal(Path.Combine(_downloads, "album"), sink.Place(_downloads, ["album"]));
        Assert.Equal("hi", File.ReadAllText(Path.Combine(_downloads, "album", "a.txt")));
        Assert.Equal(0, new FileInfo(Path.Combine(_downloads, "album", "sub", "e")).Length);
    }

    [Fact]
    public void After_a_restart_the_journal_is_trusted_only_as_far_as_the_staged_files_hold_their_hashed_bytes()
    {
        byte[][] entries = [Entry("f0", [1, 2, 3]), Entry("f1", [4, 5, 6]), Entry("f2", [7, 8, 9]), Entry("f3", [10])];
        byte[] stream = [.. entries.SelectMany(x => x)];
        var sink = Sink(stream.Length);
        var threeWhole = entries[0].Length + entries[1].Length + entries[2].Length;
        sink.Write(0, stream.AsSpan(0, threeWhole + 5));
        sink.Suspend();
        sink.Dispose();
        // The second file's bytes did not survive (as after a crash before they reached the disk); its length did.
        var staged = Path.Combine(Journal() + ".d", "1");
        File.WriteAllBytes(staged, [0, 0, 0]);

        using var again = new FolderSink(Journal(), 100, _downloads, "album");
        var ready = again.Open(stream.Length, null);
        while (!ready) ready = again.Rehash(1);
        Assert.Equal(entries[0].Length, again.Length); // resumes at the file whose bytes are wrong
        again.Write(again.Length, stream.AsSpan((int)again.Length));
        again.Complete(sync: false);
        again.Place(_downloads, ["album"]);
        Assert.Equal(new byte[] { 4, 5, 6 }, File.ReadAllBytes(Path.Combine(_downloads, "album", "f1")));
        Assert.Equal(4, Directory.GetFiles(Path.Combine(_downloads, "album")).Length);
    }

    [Theory]
    [InlineData("x", "x", "twice")]
    [InlineData("a", "a/b", "both as a file and as a folder")]
    [InlineData("a/b", "a", "twice, or as a file and as a folder")]
    public void Entries_that_contradict_each_other_fail_the_transfer(string first, string second, string reason)
    {
        byte[] stream = [.. Entry(first, [1]), .. Entry(second, [2])];
        using var sink = Sink(stream.Length);
        var e = Assert.Throws<TransferException>(() => sink.Write(0, stream));
        Assert.Contains(reason, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_file_in_the_way_of_a_folder_fails_the_transfer_before_any_file_moves()
    {
        Directory.CreateDirectory(Path.Combine(_downloads, "album"));
        File.WriteAllText(Path.Combine(_downloads, "album", "docs"), "a file, where the folder has a folder");
        byte[] stream = [.. Entry("a.txt", [1]), .. Entry("docs/x.txt", [2])];
        using var sink = Sink(stream.Length);
        sink.Write(0, stream);
        sink.Complete(sync: false);
        var e = Assert.Throws<TransferException>(() => sink.Place(_downloads, ["album"]));
        Assert.Contains("'album/docs'", e.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_downloads, "album", "a.txt")), "a file moved before the clash was found");
    }

    [Fact]
    public void A_folder_sent_a_third_time_unchanged_adds_no_copy_beside_the_copy_of_its_second_time()
    {
        void Send(string journal, byte[] content)
        {
            var stream = Entry("b.bin", content);
            using var sink = Sink(stream.Length, journal: journal);
            sink.Write(0, stream);
            sink.Complete(sync: false);
            sink.Place(_downloads, ["album"]);
        }
        Send("first", [1, 1]);
        Send("second", [2, 2]); // changed: lands beside
        Send("third", [2, 2]); // as the second: already there as "b (1).bin"
        Assert.Equal(["album/b (1).bin", "album/b.bin"], Files.List(_downloads));
    }
}
