using System.Security.Cryptography;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Hosting;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Tests.Support;
using AkkaTcpTransfer.Transfer.Storage;
using AkkaTcpTransfer.Transfer;
using PeerLeft = AkkaTcpTransfer.Events.PeerLeft;

namespace AkkaTcpTransfer.Tests.EndToEnd;

/// <summary>A connection dies mid-transfer; sending the same file again resumes where the receiver's data ends,
/// after both sides agree on the SHA-256 of what is already there.</summary>
/// <remarks>Run over both transports: <see cref="ResumeOverTlsTests"/> and <see cref="ResumeInTheClearTests"/>.</remarks>
public abstract class ResumeTests(bool tls) : NodesAndFiles(new TestNodes(tls))
{
    private const int Size = 3 * 1024 * 1024;
    private const int Partial = 1024 * 1024;

    private ServerNode _server = null!;
    private EventLog _serverLog = null!;
    private string _downloads = null!;

    public override async Task InitializeAsync()
    {
        _downloads = Files.Dir("server-downloads");
        // A server that registers no names: a name is free once its holder has left, so that another person can take it
        // (what these tests need: partial files are tied to who sent them, never to a name).
        (_server, _serverLog) = await Nodes.StartServer(("downloads", _downloads), ("names.max-registered", "0"));
    }

    /// <summary>Sends <paramref name="bytes"/> of <paramref name="data"/> from <paramref name="from"/> as 64 KiB chunks of
    /// transfer <paramref name="id"/>, each once the one before it is acknowledged (written at the receiver).</summary>
    private static async Task SendAcknowledged(RawClient raw, uint id, byte[] data, long from, int bytes)
    {
        for (var sent = from; sent < from + bytes; sent += 65536)
        {
            await raw.SendAsync(new Chunk(id, sent, data.AsMemory((int)sent, 65536)));
            var end = sent + 65536;
            await raw.Expect<Ack>(a => a.Id == id && a.Written == end);
        }
    }

    /// <summary>"alice" as a raw peer with resume key <paramref name="key"/> sends the first <paramref name="bytes"/> of
    /// <paramref name="data"/> (as offered for <paramref name="source"/>), waits until they are written, then her
    /// connection dies: an RST, or (<paramref name="finOnly"/>) a plain FIN with no Goodbye and, over TLS, no
    /// close_notify: to the server's TLS that reads like an orderly end of stream, in the middle of a file.</summary>
    private static async Task SendPartThenVanish(int port, EventLog serverLog, string source, byte[] data, int bytes, byte[] key, bool finOnly = false)
    {
        var raw = await RawClient.JoinAsync(port, "alice", resumeKey: key);
        var fingerprint = File.GetLastWriteTimeUtc(source).Ticks;
        await raw.SendAsync(new Offer(77, "", [], "server", Path.GetFileName(source), new FileInfo(source).Length, fingerprint));
        var accept = await raw.Expect<Accept>();
        Assert.Equal(0, accept.Offset);
        await raw.SendAsync(new Start(77, 0, 4 * 65536)); // one ack per 64 KiB chunk
        await SendAcknowledged(raw, 77, data, 0, bytes);
        var mark = serverLog.Mark();
        if (finOnly) raw.CloseWithoutGoodbye();
        else raw.Vanish();
        var failed = await serverLog.WaitFor<TransferFailed>(f => f.Id == TransferIds.Format(77), after: 0);
        Assert.Contains("send the file again to resume", failed.Reason, StringComparison.Ordinal);
        await serverLog.WaitFor<PeerLeft>(p => p.Name == "alice", after: mark);
    }

    [Fact]
    public async Task A_resend_after_a_dropped_connection_resumes_from_the_kept_partial_and_verifies()
    {
        var source = Files.Create("src/resume.bin", Size, seed: 42);
        var data = await File.ReadAllBytesAsync(source);
        var aliceState = Files.Dir("alice-state");
        await SendPartThenVanish(_server.Port, _serverLog, source, data, Partial, Identities.Seed(aliceState, _server.Port, "alice"));
        Assert.Single(Files.Partials(_downloads));
        Assert.Empty(Files.List(_downloads)); // nothing under the final name

        var mark = _serverLog.Mark();
        // alice again, as the client program she runs: the same resume key, kept in her state folder.
        var (alice, aliceLog) = await Nodes.StartClient("alice", _server.Port, ("downloads", Files.Dir("alice")), ("state-dir", aliceState));
        alice.Commands.Tell(new NodeCommands.SendFile(null, source));
        var started = await _serverLog.WaitFor<TransferStarted>(s => s.File == "resume.bin", after: mark);
        Assert.Equal(Partial, started.Offset);
        Assert.Equal(Partial, (await aliceLog.WaitFor<TransferStarted>()).Offset);
        var done = await _serverLog.WaitFor<TransferCompleted>(c => c.Id == started.Id);
        Assert.Equal(Files.Sha256(source), done.Sha256);
        Assert.Equal(data, await File.ReadAllBytesAsync(done.Path));
        Assert.Empty(Files.Partials(_downloads));
    }

    [Fact]
    public async Task A_connection_closed_mid_file_without_goodbye_or_close_notify_fails_the_transfer_and_a_resend_resumes()
    {
        var source = Files.Create("src/cut.bin", Size, seed: 44);
        var data = await File.ReadAllBytesAsync(source);
        var aliceState = Files.Dir("alice-state");
        await SendPartThenVanish(_server.Port, _serverLog, source, data, Partial, Identities.Seed(aliceState, _server.Port, "alice"), finOnly: true);
        Assert.Empty(Files.List(_downloads)); // the end of the stream did not pass for the end of the file
        Assert.Single(Files.Partials(_downloads));

        var mark = _serverLog.Mark();
        var (alice, _) = await Nodes.StartClient("alice", _server.Port, ("downloads", Files.Dir("alice")), ("state-dir", aliceState));
        alice.Commands.Tell(new NodeCommands.SendFile(null, source));
        var started = await _serverLog.WaitFor<TransferStarted>(s => s.File == "cut.bin", after: mark);
        Assert.Equal(Partial, started.Offset);
        var done = await _serverLog.WaitFor<TransferCompleted>(c => c.Id == started.Id);
        Assert.Equal(data, await File.ReadAllBytesAsync(done.Path));
    }

    [Fact]
    public async Task A_sender_that_fails_mid_file_leaves_the_partial_for_a_resume_and_a_cancel_does_not()
    {
        var source = Files.Create("src/failed.bin", Size, seed: 46);
        var data = await File.ReadAllBytesAsync(source);
        var key = Identities.Seed(Files.Dir("alice-state"), _server.Port, "alice");
        var offer = new Offer(80, "", [], "server", "failed.bin", data.Length, File.GetLastWriteTimeUtc(source).Ticks);
        await using var alice = await RawClient.JoinAsync(_server.Port, "alice", resumeKey: key);

        async Task SendPart(uint id, string endWith)
        {
            await alice.SendAsync(offer with { Id = id });
            var accept = await alice.Expect<Accept>(a => a.Id == id);
            await alice.SendAsync(new Start(id, accept.Offset, 4 * 65536));
            await SendAcknowledged(alice, id, data, accept.Offset, Partial);
            var mark = _serverLog.Mark();
            await alice.SendAsync(endWith == "fail" ? new Fail(id, "the sender could not read the file") : new Cancel(id, "", "changed my mind"));
            var ended = TransferIds.Format(id);
            await _serverLog.WaitFor<NodeEvent>(e => e is TransferFailed f && f.Id == ended || e is TransferCancelled c && c.Id == ended, after: mark);
        }

        // Something went wrong at the sender (or at a server node between us): what arrived is kept, and the next
        // offer of the same file resumes after it.
        await SendPart(80, "fail");
        Assert.Single(Files.Partials(_downloads));
        await SendPart(81, "cancel");
        // The resend started at the kept bytes; a person's cancel then removes the partial.
        Assert.Equal(Partial, (await _serverLog.WaitFor<TransferStarted>(s => s.Id == TransferIds.Format(81))).Offset);
        Assert.Empty(Files.Partials(_downloads));
        Assert.Empty(Files.List(_downloads));
    }

    [Fact]
    public async Task A_resend_the_moment_the_connection_is_lost_waits_for_the_old_transfer_and_resumes()
    {
        var source = Files.Create("src/quick.bin", Size, seed: 45);
        var data = await File.ReadAllBytesAsync(source);
        var key = Identities.Seed(Files.Dir("alice-state"), _server.Port, "alice");
        var offer = new Offer(78, "", [], "server", "quick.bin", data.Length, File.GetLastWriteTimeUtc(source).Ticks);
        var first = await RawClient.JoinAsync(_server.Port, "alice", resumeKey: key);
        await first.SendAsync(offer);
        await first.Expect<Accept>();
        await first.SendAsync(new Start(78, 0, 4 * 65536));
        await SendAcknowledged(first, 78, data, 0, Partial);
        // Gone, and back at once with the same identity and the same offer: the old transfer may not have failed yet.
        first.Vanish();
        await using var again = await RawClient.JoinAsync(_server.Port, "alice", resumeKey: key);
        await again.SendAsync(offer with { Id = 79 });
        var accept = await again.Expect<Accept>(timeout: TimeSpan.FromSeconds(20));
        Assert.Equal(Partial, accept.Offset);
    }

    [Fact]
    public async Task A_restarted_receiver_finds_its_partial_on_disk_and_resumes_too()
    {
        var source = Files.Create("src/restart.bin", Size, seed: 43);
        var data = await File.ReadAllBytesAsync(source);
        var aliceState = Files.Dir("alice-state");
        var port = _server.Port;
        await SendPartThenVanish(port, _serverLog, source, data, Partial, Identities.Seed(aliceState, port, "alice"));
        await _server.StopAsync();

        // A new server process (no hash state in memory) on the same downloads folder and, as a restarted server
        // would be, on the same port with the same identity.
        await using var nodes = new TestNodes(tls);
        var (server, serverLog) = await nodes.StartServer(("downloads", _downloads), ("port", port.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            ("state-dir", _server.Settings.StateDir));
        var (alice, _) = await nodes.StartClient("alice", server.Port, ("downloads", Files.Dir("alice")), ("state-dir", aliceState));
        alice.Commands.Tell(new NodeCommands.SendFile(null, source));
        var started = await serverLog.WaitFor<TransferStarted>(s => s.File == "restart.bin");
        Assert.Equal(Partial, started.Offset);
        var done = await serverLog.WaitFor<TransferCompleted>(c => c.Id == started.Id);
        Assert.Equal(data, await File.ReadAllBytesAsync(done.Path));
    }

    [Fact]
    public async Task A_partial_belongs_to_its_senders_identity_not_to_her_name()
    {
        var source = Files.Create("src/identity.bin", Size, seed: 46);
        var data = await File.ReadAllBytesAsync(source);
        var aliceState = Files.Dir("alice-state");
        var key = Identities.Seed(aliceState, _server.Port, "alice");
        await SendPartThenVanish(_server.Port, _serverLog, source, data, Partial, key);
        var partial = Assert.Single(Files.Partials(_downloads));

        // mallory takes the free (unregistered) name "alice" and offers the same file (name, size, time stamp): she is another person
        // (another key), so she neither resumes alice's partial, nor learns its hash, nor removes it.
        await using (var mallory = await RawClient.JoinAsync(_server.Port, "alice"))
        {
            var fingerprint = File.GetLastWriteTimeUtc(source).Ticks;
            await mallory.SendAsync(new Offer(78, "", [], "server", "identity.bin", Size, fingerprint));
            var accept = await mallory.Expect<Accept>(a => a.Id == 78);
            Assert.Equal(0, accept.Offset);
            Assert.Empty(accept.PrefixSha256);
            await mallory.SendAsync(new Start(78, 0, 65536));
            await mallory.SendAsync(new Chunk(78, 0, RandomNumberGenerator.GetBytes(65536)));
            await mallory.SendAsync(new Cancel(78, "", "never mind"));
            await _serverLog.WaitFor<TransferCancelled>(c => c.Id == TransferIds.Format(78));
        }
        Assert.Contains(partial, Files.Partials(_downloads));

        // alice herself, with her key, resumes where her data ends.
        var mark = _serverLog.Mark();
        var (alice, _) = await Nodes.StartClient("alice", _server.Port, ("downloads", Files.Dir("alice")), ("state-dir", aliceState));
        alice.Commands.Tell(new NodeCommands.SendFile(null, source));
        var started = await _serverLog.WaitFor<TransferStarted>(s => s.File == "identity.bin", after: mark);
        Assert.Equal(Partial, started.Offset);
        var done = await _serverLog.WaitFor<TransferCompleted>(c => c.Id == started.Id);
        Assert.Equal(data, await File.ReadAllBytesAsync(done.Path));
    }

    [Fact]
    public async Task A_partial_that_does_not_match_the_senders_bytes_is_started_over()
    {
        var source = Files.Create("src/mismatch.bin", Size, seed: 44);
        var wrong = RandomNumberGenerator.GetBytes(Size); // same name, size and time stamp; other bytes
        var aliceState = Files.Dir("alice-state");
        await SendPartThenVanish(_server.Port, _serverLog, source, wrong, Partial, Identities.Seed(aliceState, _server.Port, "alice"));

        var mark = _serverLog.Mark();
        var (alice, _) = await Nodes.StartClient("alice", _server.Port, ("downloads", Files.Dir("alice")), ("state-dir", aliceState));
        alice.Commands.Tell(new NodeCommands.SendFile(null, source));
        var started = await _serverLog.WaitFor<TransferStarted>(s => s.File == "mismatch.bin", after: mark);
        Assert.Equal(0, started.Offset);
        var done = await _serverLog.WaitFor<TransferCompleted>(c => c.Id == started.Id);
        Assert.Equal(Files.Sha256(source), Files.Sha256(done.Path));
    }

    [Fact]
    public async Task A_changed_file_starts_over_and_its_stale_partial_is_removed()
    {
        var source = Files.Create("src/changed.bin", Size, seed: 45);
        var aliceState = Files.Dir("alice-state");
        await SendPartThenVanish(_server.Port, _serverLog, source, await File.ReadAllBytesAsync(source), Partial, Identities.Seed(aliceState, _server.Port, "alice"));
        var stale = Assert.Single(Files.Partials(_downloads));

        File.SetLastWriteTimeUtc(source, DateTime.UtcNow.AddHours(-1)); // a new version as far as anyone can tell
        var mark = _serverLog.Mark();
        var (alice, _) = await Nodes.StartClient("alice", _server.Port, ("downloads", Files.Dir("alice")), ("state-dir", aliceState));
        alice.Commands.Tell(new NodeCommands.SendFile(null, source));
        var started = await _serverLog.WaitFor<TransferStarted>(s => s.File == "changed.bin", after: mark);
        Assert.Equal(0, started.Offset);
        await _serverLog.WaitFor<TransferCompleted>(c => c.Id == started.Id);
        Assert.DoesNotContain(stale, Files.Partials(_downloads));
    }
}

/// <summary>Offsets above 4 GiB on the wire and on disk, without writing gigabytes: the receiver's partial copy and
/// the source are sparse files whose first 4 GiB are zeros; only the 1 MiB tail beyond moves.</summary>
public sealed class LargeOffsetTests : NodesAndFiles
{
    private const long Prefix = (4L << 30) + 4096; // just past 4 GiB: a 32-bit offset would wrap
    private const int Tail = 1 << 20;

    [Fact]
    public async Task A_file_above_4_GiB_resumes_past_4_GiB_and_verifies()
    {
        var downloads = Files.Dir("downloads");
        var source = Path.Combine(Files.Root, "big-sparse.bin");
        var tail = RandomNumberGenerator.GetBytes(Tail);
        await using (var f = new FileStream(source, FileMode.CreateNew, FileAccess.Write))
        {
            f.SetLength(Prefix);
            f.Seek(Prefix, SeekOrigin.Begin);
            await f.WriteAsync(tail);
        }
        var size = Prefix + Tail;
        var fingerprint = File.GetLastWriteTimeUtc(source).Ticks;

        var (server, serverLog) = await Nodes.StartServer(("downloads", downloads));
        var aliceState = Files.Dir("alice-state");
        var identity = Identities.Of(Identities.Seed(aliceState, server.Port, "alice"));

        // The receiver already holds the first 4 GiB + 4 KiB (zeros, like the source) as alice's partial file.
        var partial = Path.Combine(downloads, SafeNames.PartialsFolder, PartialKey.For("", identity, "alice", "big-sparse.bin", size, fingerprint) + ".part");
        Directory.CreateDirectory(Path.GetDirectoryName(partial)!);
        await using (var p = new FileStream(partial, FileMode.CreateNew, FileAccess.Write)) p.SetLength(Prefix);

        var (alice, aliceLog) = await Nodes.StartClient("alice", server.Port, ("downloads", Files.Dir("alice")), ("state-dir", aliceState));
        alice.Commands.Tell(new NodeCommands.SendFile(null, source));

        var started = await serverLog.WaitFor<TransferStarted>(timeout: TimeSpan.FromMinutes(2));
        Assert.Equal(Prefix, started.Offset);
        Assert.Equal(size, started.Size);
        var done = await serverLog.WaitFor<TransferCompleted>(timeout: TimeSpan.FromMinutes(2));
        Assert.Equal(size, new FileInfo(done.Path).Length);
        Assert.Equal(done.Sha256, (await aliceLog.WaitFor<TransferCompleted>()).Sha256);
        await using (var landed = File.OpenRead(done.Path))
        {
            landed.Seek(Prefix, SeekOrigin.Begin);
            var back = new byte[Tail];
            await landed.ReadExactlyAsync(back);
            Assert.Equal(tail, back);
        }
        // The verified hash is the SHA-256 of the whole 4 GiB + 1 MiB file, computed here independently.
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var zeros = new byte[1 << 20];
        for (var left = Prefix; left > 0; left -= Math.Min(left, zeros.Length)) sha.AppendData(zeros, 0, (int)Math.Min(left, zeros.Length));
        sha.AppendData(tail);
        Assert.Equal(Convert.ToHexStringLower(sha.GetHashAndReset()), done.Sha256);
    }
}

public sealed class ResumeOverTlsTests() : ResumeTests(tls: true);

public sealed class ResumeInTheClearTests() : ResumeTests(tls: false);
