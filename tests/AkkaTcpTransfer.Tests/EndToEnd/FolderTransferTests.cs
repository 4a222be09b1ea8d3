using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Hosting;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Tests.Support;
using AkkaTcpTransfer.Transfer.Storage;
using AkkaTcpTransfer.Transfer;

namespace AkkaTcpTransfer.Tests.EndToEnd;

/// <summary>A folder's small files as one transfer (docs/PROTOCOL.md, "Folders"), over TLS to a real server: order and
/// structure, a folder sent again, cancel, resume, and a hostile stream from a raw peer.</summary>
public sealed class FolderTransferTests : NodesAndFiles
{
    private ServerNode _server = null!;
    private EventLog _serverLog = null!;
    private string _downloads = null!;

    public override async Task InitializeAsync()
    {
        _downloads = Files.Dir("server-downloads");
        (_server, _serverLog) = await Nodes.StartServer(("downloads", _downloads), ("transfer.folder-max-files", "500"));
    }

    /// <summary>The folder's files as the client would send them: every file, path inside the folder, in name order.</summary>
    private static FolderBundle BundleOf(string folder)
    {
        var files = PathScannerActor.Scan(folder);
        var name = Path.GetFileName(Path.TrimEndingDirectorySeparator(folder));
        return new FolderBundle(name, [.. files.Select(f => new FolderEntry(f.Path, f.File[(name.Length + 1)..], f.Size, f.Fingerprint))]);
    }

    private static byte[] StreamOf(FolderBundle bundle)
    {
        using var source = new FolderSource(bundle);
        var stream = new byte[bundle.Length];
        source.Read(0, stream);
        return stream;
    }

    /// <summary>No partial left: no file in the partials folder, and no folder of a folder transfer's files.</summary>
    private void AssertNothingStaged()
    {
        Assert.Empty(Files.Partials(_downloads));
        var partials = Path.Combine(_downloads, SafeNames.PartialsFolder);
        Assert.Empty(Directory.Exists(partials) ? Directory.GetDirectories(partials) : []);
    }

    private void AssertLanded(string folder, string name)
    {
        foreach (var file in Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(folder, file);
            Assert.Equal(Files.Sha256(file), Files.Sha256(Path.Combine(_downloads, name, relative)));
        }
    }

    [Fact]
    public async Task Every_file_lands_under_its_own_name_with_its_own_bytes_large_ones_on_their_own_beside_the_stream()
    {
        // Sizes around the chunk size, so that headers, contents and hashes straddle chunk boundaries everywhere.
        int[] sizes = [0, 1, 17, 65_536 - 50, 65_536 - 68, 65_536, 65_537, 100_000, 3];
        for (var i = 0; i < 120; i++) Files.Create($"src/album/d{i % 7}/f{i:D3}.bin", sizes[i % sizes.Length] + i, seed: i);
        Files.Create("src/album/big.iso", 300_000, seed: 999);
        var album = Path.Combine(Files.Root, "src", "album");
        var (alice, aliceLog) = await Nodes.StartClient("alice", _server.Port, ("downloads", Files.Dir("alice-dl")), ("transfer.folder-file-max-size", "200k"));
        alice.Commands.Tell(new NodeCommands.SendFile(null, album));

        var folder = await _serverLog.WaitFor<TransferCompleted>(c => c.File == "album/", timeout: TimeSpan.FromSeconds(60));
        var big = await _serverLog.WaitFor<TransferCompleted>(c => c.File == "album/big.iso", timeout: TimeSpan.FromSeconds(60));
        Assert.Equal((120, 1), (folder.Files, big.Files));
        Assert.Equal(Path.Combine(_downloads, "album"), folder.Path);
        AssertLanded(album, "album");
        Assert.Equal(121, Files.List(_downloads).Count);
        Assert.Equal(2, _serverLog.All<TransferOffered>().Count());
        var sent = await aliceLog.WaitFor<TransferCompleted>(c => c.Id == folder.Id);
        Assert.Equal((folder.Sha256, 120), (sent.Sha256, sent.Files));
        AssertNothingStaged();
    }

    [Fact]
    public async Task A_folder_sent_again_leaves_identical_files_alone_and_lands_changed_ones_beside_them()
    {
        var a = Files.Create("src/album/a.bin", 5_000, seed: 1);
        var oldB = Files.Sha256(Files.Create("src/album/sub/b.bin", 6_000, seed: 2));
        var album = Path.Combine(Files.Root, "src", "album");
        var (alice, _) = await Nodes.StartClient("alice", _server.Port, ("downloads", Files.Dir("alice-dl")));
        alice.Commands.Tell(new NodeCommands.SendFile(null, album));
        await _serverLog.WaitFor<TransferCompleted>(c => c.File == "album/");

        var mark = _serverLog.Mark();
        var newB = Files.Sha256(Files.Create("src/album/sub/b.bin", 6_000, seed: 3)); // same size, other bytes
        var c = Files.Create("src/album/c.bin", 10, seed: 4);
        alice.Commands.Tell(new NodeCommands.SendFile(null, album));
        var again = await _serverLog.WaitFor<TransferCompleted>(e => e.File == "album/", after: mark);

        Assert.Equal(3, again.Files);
        Assert.Equal(["album/a.bin", "album/c.bin", "album/sub/b (1).bin", "album/sub/b.bin"], Files.List(_downloads));
        Assert.Equal(Files.Sha256(a), Files.Sha256(Path.Combine(_downloads, "album", "a.bin")));
        Assert.Equal(oldB, Files.Sha256(Path.Combine(_downloads, "album", "sub", "b.bin")));
        Assert.Equal(newB, Files.Sha256(Path.Combine(_downloads, "album", "sub", "b (1).bin")));
        Assert.Equal(Files.Sha256(c), Files.Sha256(Path.Combine(_downloads, "album", "c.bin")));
        AssertNothingStaged();
    }

    [Fact]
    public async Task Cancelling_a_folder_midway_ends_it_at_both_ends_and_leaves_no_file_behind()
    {
        for (var i = 0; i < 160; i++) Files.Create($"src/album/f{i:D3}.bin", 256 * 1024, seed: i);
        // Small chunks slow the sender down enough to catch it midway.
        var (alice, aliceLog) = await Nodes.StartClient("alice", _server.Port, ("downloads", Files.Dir("alice-dl")), ("transfer.chunk-size", "1k"));
        alice.Commands.Tell(new NodeCommands.SendFile(null, Path.Combine(Files.Root, "src", "album")));
        var progress = await _serverLog.WaitFor<TransferProgress>(p => p.File == "album/" && p.Bytes > 1_000_000, timeout: TimeSpan.FromSeconds(30));
        Assert.True(progress.Bytes < progress.Total, "the folder finished before it could be cancelled");

        alice.Commands.Tell(new NodeCommands.CancelTransfer(progress.Id));
        var cancelled = await _serverLog.WaitFor<TransferCancelled>(c => c.Id == progress.Id);
        Assert.Equal("alice", cancelled.By);
        await aliceLog.WaitFor<TransferCancelled>(c => c.Id == progress.Id);
        Assert.Empty(Files.List(_downloads)); // not one of the files that had arrived whole
        AssertNothingStaged();
        Assert.Empty(_serverLog.All<TransferCompleted>());
    }

    [Fact]
    public async Task A_folder_cut_off_midway_resumes_at_its_last_whole_file_and_lands_whole()
    {
        for (var i = 0; i < 40; i++) Files.Create($"src/album/f{i:D2}.bin", 100_000 + i, seed: i);
        var album = Path.Combine(Files.Root, "src", "album");
        var bundle = BundleOf(album);
        var stream = StreamOf(bundle);
        var aliceState = Files.Dir("alice-state");
        var key = Identities.Seed(aliceState, _server.Port, "alice");

        // "alice" as a raw peer sends the first 24 chunks (inside the 16th file), then her connection dies.
        const int sent = 24 * 65_536;
        var raw = await RawClient.JoinAsync(_server.Port, "alice", resumeKey: key);
        await raw.SendAsync(new Offer(91, "", [], "server", "album/", bundle.Length, bundle.Fingerprint));
        Assert.Equal(0, (await raw.Expect<Accept>()).Offset);
        await raw.SendAsync(new Start(91, 0, 4 * 65_536));
        for (var at = 0; at < sent; at += 65_536)
        {
            await raw.SendAsync(new Chunk(91, at, stream.AsMemory(at, 65_536)));
            await raw.Expect<Ack>(a => a.Written == at + 65_536);
        }
        raw.Vanish();
        var failed = await _serverLog.WaitFor<TransferFailed>(f => f.Id == TransferIds.Format(91));
        Assert.Contains("send the file again to resume", failed.Reason, StringComparison.Ordinal);
        Assert.Empty(Files.List(_downloads)); // nothing under a final name
        Assert.NotEmpty(Files.Partials(_downloads));

        // alice again, as the client program, with her resume key: it resumes where the last whole file ends.
        var wholeFiles = bundle.Starts.Count(s => s <= sent) - 1;
        Assert.InRange(wholeFiles, 10, 20);
        var mark = _serverLog.Mark();
        var (alice, aliceLog) = await Nodes.StartClient("alice", _server.Port, ("downloads", Files.Dir("alice-dl")), ("state-dir", aliceState));
        alice.Commands.Tell(new NodeCommands.SendFile(null, album));
        var started = await _serverLog.WaitFor<TransferStarted>(s => s.File == "album/", after: mark);
        Assert.Equal(bundle.Starts[wholeFiles], started.Offset);
        Assert.Equal(started.Offset, (await aliceLog.WaitFor<TransferStarted>()).Offset);
        var done = await _serverLog.WaitFor<TransferCompleted>(c => c.Id == started.Id);
        Assert.Equal(40, done.Files);
        AssertLanded(album, "album");
        Assert.Equal(40, Files.List(_downloads).Count);
        AssertNothingStaged();
    }

    [Fact]
    public async Task A_folder_offered_where_a_file_of_that_name_is_is_refused_at_the_offer()
    {
        File.WriteAllText(Path.Combine(_downloads, "album"), "a file, not a folder");
        var raw = await RawClient.JoinAsync(_server.Port, "alice");
        await raw.SendAsync(new Offer(3, "", [], "server", "album/", 100, 1));
        var reject = await raw.Expect<Reject>(r => r.Id == 3);
        Assert.Contains("a file named 'album' is in the way of the folder", reject.Reason, StringComparison.Ordinal);
        Assert.Equal("a file, not a folder", File.ReadAllText(Path.Combine(_downloads, "album")));
    }

    public static TheoryData<string, string> HostileStreams => new()
    {
        { "unsafe name", "unsafe file name in the folder ('../evil.txt')" },
        { "wrong hash", "SHA-256 mismatch for 'a.txt'" },
        { "entry past the offer", "does not fit in the folder's offered size" },
        { "too many files", "more than 500 files" },
        { "ends inside an entry", "ended inside an entry" },
    };

    [Theory]
    [MemberData(nameof(HostileStreams))]
    public async Task A_hostile_folder_stream_fails_that_transfer_with_the_reason_leaves_nothing_and_the_connection_carries_on(string attack, string reason)
    {
        static byte[] Entry(string path, byte[] content, byte[]? sha = null) =>
            [.. FolderStream.EncodeHeader(path, content.Length, 0), .. content, .. sha ?? System.Security.Cryptography.SHA256.HashData(content)];
        var hi = "hi"u8.ToArray();
        var stream = attack switch
        {
            "unsafe name" => [.. Entry("a.txt", hi), .. Entry("../evil.txt", hi)],
            "wrong hash" => Entry("a.txt", hi, new byte[32]),
            "entry past the offer" => Entry("a.txt", hi)[..^10], // the offer's size ends before this entry does
            "too many files" => Enumerable.Range(0, 501).SelectMany(i => Entry($"f{i}", hi)).ToArray(),
            "ends inside an entry" => [.. Entry("a.txt", hi), .. FolderStream.EncodeHeader("b.txt", 0, 0)[..5]],
            _ => throw new ArgumentOutOfRangeException(nameof(attack)),
        };
        var raw = await RawClient.JoinAsync(_server.Port, "mallory");
        await raw.SendAsync(new Offer(5, "", [], "server", "album/", stream.Length, 1));
        var accept = await raw.Expect<Accept>();
        Assert.True(stream.Length <= accept.Window); // all of it fits in the window: no acks to wait for
        await raw.SendAsync(new Start(5, 0, accept.Window));
        for (var at = 0; at < stream.Length; at += 65_536)
            await raw.SendAsync(new Chunk(5, at, stream.AsMemory(at, Math.Min(65_536, stream.Length - at))));
        if (attack == "ends inside an entry") await raw.SendAsync(new Done(5, stream.Length, new byte[32]));

        var fail = await raw.Expect<Fail>(f => f.Id == 5);
        Assert.Contains(reason, fail.Reason, StringComparison.Ordinal);
        // The server removes what had arrived before it reports the failure (the peer may hear of it a moment sooner).
        await _serverLog.WaitFor<TransferFailed>(f => f.Id == TransferIds.Format(5));
        Assert.Empty(Files.List(_downloads));
        AssertNothingStaged();
        Assert.False(File.Exists(Path.Combine(_downloads, "..", "evil.txt")));
        // The connection carries on: the next offer is answered.
        await raw.SendAsync(new Offer(6, "", [], "server", "next.txt", 2, 1));
        await raw.Expect<Accept>(a => a.Id == 6);
    }
}
