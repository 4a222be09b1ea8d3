using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Hosting;
using AkkaTcpTransfer.Tests.Support;

namespace AkkaTcpTransfer.Tests.EndToEnd;

/// <summary>Files for several people and for the offline: uploaded once, kept by the server (state-dir/spool, each
/// content once under its SHA-256), offered to each recipient at their own pace, and reported back to the sender.</summary>
public sealed class SpoolTests : NodesAndFiles
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(30);

    private static Task<DeliveryChanged> Settled(EventLog log, string to, DeliveryStatus state) =>
        log.WaitFor<DeliveryChanged>(d => d.To == to && d.State == state, timeout: Long);

    [Fact]
    public async Task One_upload_reaches_each_recipient_who_accepts_and_the_sender_hears_of_each()
    {
        var (server, serverLog) = await Nodes.StartServer(("downloads", Files.Dir("server-downloads")));
        var (_, bobLog) = await Nodes.StartClient("bob", server.Port, ("downloads", Files.Dir("bob")));
        var (carol, carolLog) = await Nodes.StartClient("carol", server.Port, ("downloads", Files.Dir("carol")), ("transfer.auto-accept", "off"));
        var (_, daveLog) = await Nodes.StartClient("dave", server.Port, ("downloads", Files.Dir("dave")));
        var (alice, aliceLog) = await Nodes.StartClient("alice", server.Port);
        var file = Files.Create("src/report.bin", 3_000_000, seed: 5);

        alice.Commands.Tell(new NodeCommands.SendFile("bob,carol,dave", file));
        // alice's part ends once the server holds the verified file: once, however many recipients.
        var held = await aliceLog.WaitFor<TransferHeld>(timeout: Long);
        Assert.Equal(3, held.Recipients);
        await aliceLog.WaitFor<TransferCompleted>(c => c.File == "report.bin", timeout: Long);

        // carol is asked, and says no; bob and dave accept without asking.
        var offer = await carolLog.WaitFor<TransferOffered>(o => o.File == "report.bin", timeout: Long);
        Assert.Equal("alice", offer.From);
        carol.Commands.Tell(new NodeCommands.RejectTransfer(offer.Id));
        var toBob = await bobLog.WaitFor<TransferCompleted>(c => c.File == "report.bin", timeout: Long);
        var toDave = await daveLog.WaitFor<TransferCompleted>(c => c.File == "report.bin", timeout: Long);
        Assert.Equal(File.ReadAllBytes(file), File.ReadAllBytes(toBob.Path));
        Assert.Equal(File.ReadAllBytes(file), File.ReadAllBytes(toDave.Path));
        Assert.Equal("alice", (await bobLog.WaitFor<TransferStarted>(s => s.File == "report.bin")).From);

        // One row per recipient, each ending as it did.
        var rows = new[]
        {
            await Settled(aliceLog, "bob", DeliveryStatus.Delivered),
            await Settled(aliceLog, "dave", DeliveryStatus.Delivered),
            await Settled(aliceLog, "carol", DeliveryStatus.Rejected),
        };
        Assert.All(rows, r => Assert.Equal(held.FileId, r.FileId));
        Assert.Contains("declined", rows[2].Reason, StringComparison.Ordinal);
        Assert.Empty(aliceLog.All<TransferFailed>());
        // The server kept it in its spool, not among its own downloads; with every recipient settled, the content goes.
        Assert.Empty(Files.List(Files.Dir("server-downloads")));
        await Eventually(() => Directory.GetFiles(Path.Combine(server.Settings.StateDir, "spool", "blobs")).Length == 0);
        var upload = Assert.Single(serverLog.All<TransferCompleted>(), c => c.Id == held.Id);
        Assert.StartsWith(Path.Combine(server.Settings.StateDir, "spool"), upload.Path, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_slow_recipient_holds_up_neither_the_sender_nor_the_others()
    {
        var (server, _) = await Nodes.StartServer();
        // bob is far away and grants a small window: about 64 KiB per 200 ms round trip, some 300 KiB/s.
        await using var far = new DelayLine(server.Port, TimeSpan.FromMilliseconds(100));
        var (_, bobLog) = await Nodes.StartClient("bob", far.Port, ("tls.fingerprint", TestNodes.FingerprintOf(server.Port)!),
            ("transfer.window", "64k"), ("transfer.max-window", "64k"), ("downloads", Files.Dir("bob")));
        var (_, carolLog) = await Nodes.StartClient("carol", server.Port, ("downloads", Files.Dir("carol")));
        var (alice, aliceLog) = await Nodes.StartClient("alice", server.Port);
        var file = Files.Create("src/large.bin", 3_000_000, seed: 14);
        alice.Commands.Tell(new NodeCommands.SendFile("bob,carol", file));

        // alice is done, and carol has the file, while bob's copy is still on its way.
        await aliceLog.WaitFor<TransferHeld>(timeout: Long);
        await carolLog.WaitFor<TransferCompleted>(c => c.File == "large.bin", timeout: Long);
        await bobLog.WaitFor<TransferProgress>(p => p.File == "large.bin", timeout: Long);
        Assert.Empty(bobLog.All<TransferCompleted>());
        await Settled(aliceLog, "carol", DeliveryStatus.Delivered);
        // And bob gets it whole, at his own pace.
        var landed = await bobLog.WaitFor<TransferCompleted>(c => c.File == "large.bin", timeout: TimeSpan.FromSeconds(60));
        Assert.Equal(File.ReadAllBytes(file), File.ReadAllBytes(landed.Path));
    }

    [Fact]
    public async Task A_file_for_someone_offline_waits_for_them_across_a_server_restart_and_the_sender_hears_when_it_arrives()
    {
        var (server, _) = await Nodes.StartServer();
        var (bobState, aliceState) = (Files.Dir("bob-state"), Files.Dir("alice-state"));
        // bob registers his name by using it, and leaves.
        var (bob, bobLog) = await Nodes.StartClient("bob", server.Port, ("state-dir", bobState));
        await bob.StopAsync();

        var (alice, aliceLog) = await Nodes.StartClient("alice", server.Port, ("state-dir", aliceState));
        var file = Files.Create("src/for-bob.bin", 1_500_000, seed: 8);
        alice.Commands.Tell(new NodeCommands.SendFile("bob", file));
        var held = await aliceLog.WaitFor<TransferHeld>(timeout: Long);
        Assert.Equal(1, held.Recipients);
        await Settled(aliceLog, "bob", DeliveryStatus.Waiting);
        await alice.StopAsync();

        // The server goes and comes back with the same state: the file was recorded before alice heard it was held.
        var state = server.Settings.StateDir;
        await server.StopAsync();
        // (The same port: a client's identity is kept per server address.)
        var (again, _) = await Nodes.StartServer(("state-dir", state), ("port", server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)));

        var (_, bobAgainLog) = await Nodes.StartClient("bob", again.Port, ("state-dir", bobState), ("downloads", Files.Dir("bob-downloads")));
        var landed = await bobAgainLog.WaitFor<TransferCompleted>(c => c.File == "for-bob.bin", timeout: Long);
        Assert.Equal(File.ReadAllBytes(file), File.ReadAllBytes(landed.Path));

        // alice was away when it arrived: she hears it on connecting.
        var (_, aliceAgainLog) = await Nodes.StartClient("alice", again.Port, ("state-dir", aliceState));
        var row = await Settled(aliceAgainLog, "bob", DeliveryStatus.Delivered);
        Assert.Equal(held.FileId, row.FileId);
    }

    [Fact]
    public async Task A_kept_file_changed_on_disk_while_the_server_was_down_is_never_served()
    {
        Nodes.ExpectErrors = true; // the server logs the damaged file as an error: what this test is about
        var (server, _) = await Nodes.StartServer();
        var (bobState, aliceState) = (Files.Dir("bob-state"), Files.Dir("alice-state"));
        var (bob, _) = await Nodes.StartClient("bob", server.Port, ("state-dir", bobState));
        await bob.StopAsync();
        var (alice, aliceLog) = await Nodes.StartClient("alice", server.Port, ("state-dir", aliceState));
        alice.Commands.Tell(new NodeCommands.SendFile("bob", Files.Create("src/doc.bin", 200_000, seed: 3)));
        await aliceLog.WaitFor<TransferHeld>(timeout: Long);
        await alice.StopAsync();
        var state = server.Settings.StateDir;
        await server.StopAsync();

        // One byte of the kept copy changes while the server is down (a disk error, a careless operator).
        var blob = Assert.Single(Directory.GetFiles(Path.Combine(state, "spool", "blobs")));
        var bytes = File.ReadAllBytes(blob);
        bytes[100_000] ^= 0xff;
        File.WriteAllBytes(blob, bytes);

        var (again, _) = await Nodes.StartServer(("state-dir", state), ("port", server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        var (_, aliceAgainLog) = await Nodes.StartClient("alice", again.Port, ("state-dir", aliceState));
        var failed = await Settled(aliceAgainLog, "bob", DeliveryStatus.Failed);
        Assert.Contains("no longer matches its SHA-256", failed.Reason, StringComparison.Ordinal);
        // bob, back, is offered nothing: the changed copy is gone.
        var (_, bobAgainLog) = await Nodes.StartClient("bob", again.Port, ("state-dir", bobState), ("downloads", Files.Dir("bob-downloads")));
        await bobAgainLog.WaitFor<HistoryEnded>(timeout: Long);
        Assert.Empty(bobAgainLog.All<TransferOffered>());
        Assert.False(File.Exists(blob));
    }

    [Fact]
    public async Task A_spool_that_fails_comes_back_from_the_database_and_still_delivers_what_it_kept()
    {
        Nodes.ExpectErrors = true; // the killed spool's failure is logged as an error
        var (server, _) = await Nodes.StartServer();
        var bobState = Files.Dir("bob-state");
        var (bob, _) = await Nodes.StartClient("bob", server.Port, ("state-dir", bobState));
        await bob.StopAsync();
        var (alice, aliceLog) = await Nodes.StartClient("alice", server.Port);
        var file = Files.Create("src/kept.bin", 300_000, seed: 12);
        alice.Commands.Tell(new NodeCommands.SendFile("bob", file));
        await aliceLog.WaitFor<TransferHeld>(timeout: Long);

        // The spool throws (Akka's Kill): its supervisor starts it again, and it recovers its records from the database.
        var spool = await server.System.ActorSelection("/user/server/spool/spool").ResolveOne(TimeSpan.FromSeconds(5));
        spool.Tell(Akka.Actor.Kill.Instance);

        var (_, bobAgainLog) = await Nodes.StartClient("bob", server.Port, ("state-dir", bobState), ("downloads", Files.Dir("bob-downloads")));
        var landed = await bobAgainLog.WaitFor<TransferCompleted>(c => c.File == "kept.bin", timeout: Long);
        Assert.Equal(File.ReadAllBytes(file), File.ReadAllBytes(landed.Path));
        await Settled(aliceLog, "bob", DeliveryStatus.Delivered);
        Assert.False(server.Terminated.IsCompleted);
    }

    [Fact]
    public async Task An_offer_nobody_answered_is_not_a_refusal_and_comes_again_on_the_next_connection()
    {
        var (server, _) = await Nodes.StartServer();
        var bobState = Files.Dir("bob-state");
        // bob is asked, and is away: his client gives up on the offer after a second.
        var (bob, bobLog) = await Nodes.StartClient("bob", server.Port, ("state-dir", bobState), ("transfer.auto-accept", "off"),
            ("transfer.offer-timeout", "1s"));
        await Nodes.StartClient("carol", server.Port);
        var (alice, aliceLog) = await Nodes.StartClient("alice", server.Port);
        alice.Commands.Tell(new NodeCommands.SendFile("bob,carol", Files.Create("src/memo.bin", 50_000, seed: 13)));
        await Settled(aliceLog, "carol", DeliveryStatus.Delivered);
        await bobLog.WaitFor<TransferFailed>(f => f.File == "memo.bin", timeout: Long);
        var waiting = await aliceLog.WaitFor<DeliveryChanged>(d => d.To == "bob" && d.State == DeliveryStatus.Waiting && d.Reason.StartsWith("not answered", StringComparison.Ordinal),
            timeout: Long);
        Assert.Contains("next connects", waiting.Reason, StringComparison.Ordinal);
        Assert.DoesNotContain(aliceLog.All<DeliveryChanged>(), d => d.To == "bob" && d.State == DeliveryStatus.Rejected);
        await bob.StopAsync();

        var (_, bobAgainLog) = await Nodes.StartClient("bob", server.Port, ("state-dir", bobState), ("downloads", Files.Dir("bob-downloads")));
        await bobAgainLog.WaitFor<TransferCompleted>(c => c.File == "memo.bin", timeout: Long);
        await Settled(aliceLog, "bob", DeliveryStatus.Delivered);
    }

    [Fact]
    public async Task A_name_nobody_registered_is_refused_and_nothing_is_kept()
    {
        var (server, _) = await Nodes.StartServer();
        var (_, _) = await Nodes.StartClient("bob", server.Port);
        var (alice, aliceLog) = await Nodes.StartClient("alice", server.Port);
        alice.Commands.Tell(new NodeCommands.SendFile("bob,nobody", Files.Create("src/x.bin", 1000, seed: 1)));
        var failed = await aliceLog.WaitFor<TransferFailed>(timeout: Long);
        Assert.Contains("no one named 'nobody' is online or registered", failed.Reason, StringComparison.Ordinal);
        Assert.Empty(aliceLog.All<TransferHeld>());
    }

    [Fact]
    public async Task Limits_refuse_an_upload_naming_the_limit_hit()
    {
        var (server, _) = await Nodes.StartServer(("spool.max-bytes-per-sender", "100k"), ("spool.max-bytes-per-recipient", "1m"));
        await Nodes.StartClient("bob", server.Port, ("transfer.auto-accept", "off"));
        await Nodes.StartClient("carol", server.Port, ("transfer.auto-accept", "off"));
        var (alice, aliceLog) = await Nodes.StartClient("alice", server.Port);

        alice.Commands.Tell(new NodeCommands.SendFile("bob,carol", Files.Create("src/big.bin", 200_000, seed: 1)));
        var failed = await aliceLog.WaitFor<TransferFailed>(timeout: Long);
        Assert.Contains("spool.max-bytes-per-sender", failed.Reason, StringComparison.Ordinal);

        // Within the sender's quota: kept (bob and carol have not answered yet, so it stays kept).
        alice.Commands.Tell(new NodeCommands.SendFile("bob,carol", Files.Create("src/small.bin", 60_000, seed: 2)));
        await aliceLog.WaitFor<TransferHeld>(timeout: Long);
        // A second one would take alice past her 100 kB: refused, though the spool has room.
        alice.Commands.Tell(new NodeCommands.SendFile("bob,carol", Files.Create("src/small2.bin", 60_000, seed: 3)));
        var second = await aliceLog.WaitFor<TransferFailed>(f => f.File == "small2.bin", timeout: Long);
        Assert.Contains("spool.max-bytes-per-sender", second.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_kept_file_nobody_fetched_expires_and_the_sender_hears_so()
    {
        var (server, _) = await Nodes.StartServer(("spool.expire-after", "2s"), ("spool.sweep-interval", "200ms"));
        var (bob, _) = await Nodes.StartClient("bob", server.Port);
        await bob.StopAsync();
        var (alice, aliceLog) = await Nodes.StartClient("alice", server.Port);
        alice.Commands.Tell(new NodeCommands.SendFile("bob", Files.Create("src/late.bin", 5_000, seed: 4)));
        await aliceLog.WaitFor<TransferHeld>(timeout: Long);
        var expired = await Settled(aliceLog, "bob", DeliveryStatus.Expired);
        Assert.Contains("not delivered within", expired.Reason, StringComparison.Ordinal);
        await Eventually(() => Directory.GetFiles(Path.Combine(server.Settings.StateDir, "spool", "blobs")).Length == 0);
    }

    [Fact]
    public async Task A_file_shared_with_a_room_reaches_its_members_and_one_who_joins_later_gets_it_from_the_history()
    {
        var (server, _) = await Nodes.StartServer();
        var (alice, aliceLog) = await Nodes.StartClient("alice", server.Port);
        var (bob, bobLog) = await Nodes.StartClient("bob", server.Port, ("downloads", Files.Dir("bob")));
        foreach (var (node, log) in new[] { (alice, aliceLog), (bob, bobLog) })
        {
            node.Commands.Tell(new NodeCommands.JoinRoom("#team"));
            await log.WaitFor<JoinedRoom>(j => j.Room == "#team", timeout: Long);
        }
        var file = Files.Create("src/slides.bin", 700_000, seed: 6);
        alice.Commands.Tell(new NodeCommands.SendFile("#team", file));
        var held = await aliceLog.WaitFor<TransferHeld>(timeout: Long);
        Assert.Equal(1, held.Recipients);
        await bobLog.WaitFor<TransferCompleted>(c => c.File == "slides.bin", timeout: Long);
        // The room's history says so, with the id to fetch it by.
        var line = await bobLog.WaitFor<ChatReceived>(c => c.To == "#team" && c.Text.Contains(held.FileId, StringComparison.Ordinal), timeout: Long);
        Assert.Equal("alice", line.From);
        Assert.Contains($"/get {held.FileId}", line.Text, StringComparison.Ordinal);

        // carol was not in the room: she may not have it. Once she joins, the line is in the history she gets, and so is the file.
        var (carol, carolLog) = await Nodes.StartClient("carol", server.Port, ("downloads", Files.Dir("carol")));
        carol.Commands.Tell(new NodeCommands.GetFile(held.FileId));
        var refused = await carolLog.WaitFor<ErrorOccurred>(e => e.Message.Contains(held.FileId, StringComparison.Ordinal), timeout: Long);
        Assert.Contains("members of #team", refused.Message, StringComparison.Ordinal);
        carol.Commands.Tell(new NodeCommands.JoinRoom("#team"));
        await carolLog.WaitFor<HistoryLine>(h => h.To == "#team" && h.Text.Contains($"/get {held.FileId}", StringComparison.Ordinal), timeout: Long);
        carol.Commands.Tell(new NodeCommands.GetFile(held.FileId));
        var got = await carolLog.WaitFor<TransferCompleted>(c => c.File == "slides.bin", timeout: Long);
        Assert.Equal(File.ReadAllBytes(file), File.ReadAllBytes(got.Path));
        await Settled(aliceLog, "carol", DeliveryStatus.Delivered);
        // An id nobody kept is answered too.
        carol.Commands.Tell(new NodeCommands.GetFile("0000000000"));
        await carolLog.WaitFor<ErrorOccurred>(e => e.Message.Contains("no file 0000000000 is kept", StringComparison.Ordinal), timeout: Long);
    }

    [Fact]
    public async Task Content_the_server_keeps_already_is_proved_not_sent_again_and_a_hash_alone_claims_nothing()
    {
        var (server, serverLog) = await Nodes.StartServer();
        // bob and carol do not answer yet: the first file stays kept while the second is sent.
        await Nodes.StartClient("bob", server.Port, ("transfer.auto-accept", "off"));
        await Nodes.StartClient("carol", server.Port, ("transfer.auto-accept", "off"));
        var (alice, aliceLog) = await Nodes.StartClient("alice", server.Port);
        var file = Files.Create("src/big.bin", 4_000_000, seed: 11);
        alice.Commands.Tell(new NodeCommands.SendFile("bob,carol", file));
        var first = await aliceLog.WaitFor<TransferHeld>(timeout: Long);
        Assert.Contains(serverLog.All<TransferStarted>(), s => s.Id == first.Id);

        // The same content under another name (nothing in this process knows its hash: it is hashed, claimed, proved).
        var copy = Path.Combine(Files.Dir("src2"), "again.bin");
        File.Copy(file, copy);
        alice.Commands.Tell(new NodeCommands.SendFile("bob,carol", copy));
        var second = await aliceLog.WaitFor<TransferHeld>(h => h.Id != first.Id, timeout: Long);
        var done = await aliceLog.WaitFor<TransferCompleted>(c => c.Id == second.Id, timeout: Long);
        Assert.Equal(Sha(file), done.Sha256);
        Assert.NotEqual(first.FileId, second.FileId);
        // Not a byte of it moved: no transfer started at either end, and the content is kept once.
        Assert.DoesNotContain(aliceLog.All<TransferStarted>(), s => s.Id == second.Id);
        Assert.DoesNotContain(serverLog.All<TransferStarted>(), s => s.Id == second.Id);
        Assert.Single(Directory.GetFiles(Path.Combine(server.Settings.StateDir, "spool", "blobs")));

        // Someone who knows only the hash claims it and cannot prove it: refused, nothing kept for them.
        await using var mallory = await RawClient.JoinAsync(server.Port, "mallory");
        var sha = Convert.FromHexString(done.Sha256);
        await mallory.SendAsync(new Protocol.Claim(77, sha));
        await mallory.SendAsync(new Protocol.Offer(77, "", [], "bob,carol", "stolen.bin", 4_000_000, 1));
        var prove = await mallory.Expect<Protocol.Prove>();
        Assert.Equal(77u, prove.Id);
        await mallory.SendAsync(new Protocol.Proof(77, System.Security.Cryptography.SHA256.HashData(prove.Nonce)));
        var refused = await mallory.Expect<Protocol.Reject>();
        Assert.Contains("proof of possession does not match", refused.Reason, StringComparison.Ordinal);
        // Nor can they try another slice: for a while their claims are not taken, and the bytes themselves are asked for.
        await mallory.SendAsync(new Protocol.Claim(78, sha));
        await mallory.SendAsync(new Protocol.Offer(78, "", [], "bob,carol", "stolen.bin", 4_000_000, 1));
        Assert.Equal(78u, (await mallory.Expect<Protocol.Accept>()).Id);
    }

    private static string Sha(string path) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(path)));

    /// <summary>Waits (at most 10 s) for a condition on the file system, which no event announces.</summary>
    private static async Task Eventually(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the condition did not hold within 10 s");
            await Task.Delay(50);
        }
    }
}
