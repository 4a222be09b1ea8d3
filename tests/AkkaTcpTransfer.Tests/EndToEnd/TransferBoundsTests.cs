using System.Security.Cryptography;
using System.Text.Json;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Hosting;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Tests.Support;
using AkkaTcpTransfer.Transfer.Storage;
using AkkaTcpTransfer.Transfer;

namespace AkkaTcpTransfer.Tests.EndToEnd;

/// <summary>Every wait of a transfer ends; a transfer id cannot be used to touch another transfer; disk space is
/// promised per accepted offer; partial files nobody resumes expire and can be listed; two programs can share one
/// downloads folder.</summary>
public sealed class TransferBoundsTests : NodesAndFiles
{
    private static Offer OfferOf(uint id, string file, long size, long fingerprint = 1) => new(id, "", [], "server", file, size, fingerprint);

    [Fact]
    public async Task An_accept_never_followed_by_start_expires_at_both_ends_and_frees_the_slot()
    {
        var (server, serverLog) = await Nodes.StartServer(("downloads", Files.Dir("dl")), ("transfer.start-timeout", "500ms"),
            ("transfer.max-concurrent-receives", "1"));
        await using var raw = await RawClient.JoinAsync(server.Port, "idler");
        await raw.SendAsync(OfferOf(11, "never.bin", 1000));
        await raw.Expect<Accept>(a => a.Id == 11);
        // The only receive slot is taken: a second offer is refused...
        await raw.SendAsync(OfferOf(12, "second.bin", 1000));
        Assert.Contains("too many incoming transfers", (await raw.Expect<Reject>(r => r.Id == 12)).Reason, StringComparison.Ordinal);
        // ...until the first expires, at both ends, with the reason.
        var fail = await raw.Expect<Fail>(f => f.Id == 11);
        Assert.Contains("did not start within 0.5 s", fail.Reason, StringComparison.Ordinal);
        await serverLog.WaitFor<TransferFailed>(f => f.Id == TransferIds.Format(11));
        await raw.SendAsync(OfferOf(13, "third.bin", 1000));
        await raw.Expect<Accept>(a => a.Id == 13);
    }

    [Fact]
    public async Task An_offer_nobody_answers_expires_at_both_ends_and_the_sender_is_done()
    {
        var (server, _) = await Nodes.StartServer();
        var (alice, aliceLog) = await Nodes.StartClient("alice", server.Port, ("transfer.answer-timeout", "1s"));
        var (bob, bobLog) = await Nodes.StartClient("bob", server.Port, ("transfer.auto-accept", "off"), ("downloads", Files.Dir("bob")));
        alice.Commands.Tell(new NodeCommands.SendFile("bob", Files.Create("src/ignored.bin", 1000)));
        var offered = await bobLog.WaitFor<TransferOffered>();
        // Nobody at bob's end decides. alice gives up after her answer timeout, and bob hears of it.
        var failed = await aliceLog.WaitFor<TransferFailed>(f => f.Id == offered.Id);
        Assert.Contains("bob did not answer the offer within 1 s", failed.Reason, StringComparison.Ordinal);
        Assert.Contains("did not answer", (await bobLog.WaitFor<TransferFailed>(f => f.Id == offered.Id)).Reason, StringComparison.Ordinal);
        // Nothing outgoing is left: a script whose input ended would exit now.
        var summary = await alice.OutgoingDoneAsync().WaitAsync(EventLog.DefaultTimeout);
        Assert.Equal(new OutgoingSummary(1, 1), summary);
    }

    [Fact]
    public async Task The_node_counts_a_send_unfinished_from_the_command_until_the_event_that_ends_it()
    {
        var (server, serverLog) = await Nodes.StartServer(("transfer.auto-accept", "off"));
        var (alice, aliceLog) = await Nodes.StartClient("alice", server.Port);
        alice.Commands.Tell(new NodeCommands.SendFile(null, Files.Create("src/waits.bin", 1000)));
        // From the command on (the file is still being looked at), through the wait for the server's decision...
        Assert.Equal(["waits.bin"], await alice.UnfinishedOutgoingAsync(EventLog.DefaultTimeout));
        var waiting = await aliceLog.WaitFor<TransferWaiting>();
        Assert.Equal(["waits.bin"], await alice.UnfinishedOutgoingAsync(EventLog.DefaultTimeout));
        // ...until the event that says it is over: whoever reads that event and asks finds nothing left.
        await serverLog.WaitFor<TransferOffered>(o => o.Id == waiting.Id);
        server.Commands.Tell(new NodeCommands.AcceptTransfer(waiting.Id));
        await aliceLog.WaitFor<TransferCompleted>(c => c.Id == waiting.Id);
        Assert.Empty(await alice.UnfinishedOutgoingAsync(EventLog.DefaultTimeout));
    }

    [Fact]
    public async Task A_transfer_shown_started_is_listed_as_moving()
    {
        var (server, serverLog) = await Nodes.StartServer(("downloads", Files.Dir("dl")));
        await using var raw = await RawClient.JoinAsync(server.Port, "starter");
        await raw.SendAsync(OfferOf(31, "moving.bin", 1_000_000));
        var accept = await raw.Expect<Accept>(a => a.Id == 31);
        await raw.SendAsync(new Start(31, 0, accept.Window)); // and nothing more: it stays started
        await serverLog.WaitFor<TransferStarted>(s => s.Id == TransferIds.Format(31));
        server.Commands.Tell(NodeCommands.ListTransfers.Instance);
        var listed = await serverLog.WaitFor<TransfersListed>();
        Assert.Equal(TransferState.Receiving, Assert.Single(listed.Transfers, t => t.Id == TransferIds.Format(31)).State);
    }

    [Fact]
    public async Task A_listing_after_a_progress_event_shows_at_least_its_bytes_in_both_directions()
    {
        // Each transfer moves once and then waits (no more data, no more acks), so it is still listed when asked.
        var (server, serverLog) = await Nodes.StartServer(("downloads", Files.Dir("dl")));
        await using var alice = await RawClient.JoinAsync(server.Port, "alice");
        await alice.SendAsync(OfferOf(41, "up.bin", 1_000_000));
        var accept = await alice.Expect<Accept>(a => a.Id == 41);
        await alice.SendAsync(new Start(41, 0, accept.Window));
        await alice.SendAsync(new Chunk(41, 0, RandomNumberGenerator.GetBytes(Math.Min(65536, accept.MaxChunk))));
        var up = await serverLog.WaitFor<TransferProgress>(p => p.Id == TransferIds.Format(41) && p.Bytes > 0);

        await using var bob = await RawClient.JoinAsync(server.Port, "bob");
        server.Commands.Tell(new NodeCommands.SendFile("bob", Files.Create("src/down.bin", 1_000_000)));
        var offer = await bob.Expect<Offer>();
        await bob.SendAsync(new Accept(offer.Id, 0, [], 65536, 65536));
        var chunk = await bob.Expect<Chunk>(c => c.Id == offer.Id);
        await bob.SendAsync(new Ack(offer.Id, chunk.Data.Length));
        var down = await serverLog.WaitFor<TransferProgress>(p => p.Id == TransferIds.Format(offer.Id) && p.Bytes > 0);

        var mark = serverLog.Mark();
        server.Commands.Tell(NodeCommands.ListTransfers.Instance);
        var listed = await serverLog.WaitFor<TransfersListed>(after: mark);
        var receiving = Assert.Single(listed.Transfers, t => t.Id == up.Id);
        Assert.True(receiving.Bytes >= up.Bytes, $"listed {receiving.Bytes} bytes after an event that said {up.Bytes}");
        var sending = Assert.Single(listed.Transfers, t => t.Id == down.Id);
        Assert.True(sending.Bytes >= down.Bytes, $"listed {sending.Bytes} bytes after an event that said {down.Bytes}");
    }

    [Fact]
    public async Task A_duplicate_transfer_id_is_refused_and_the_live_transfer_with_that_id_is_untouched()
    {
        var downloads = Files.Dir("dl");
        var (server, serverLog) = await Nodes.StartServer(("downloads", downloads), ("transfer.window", "128k"));
        await using var raw = await RawClient.JoinAsync(server.Port, "twice");
        var data = RandomNumberGenerator.GetBytes(512 * 1024);
        await raw.SendAsync(OfferOf(21, "live.bin", data.Length));
        var accept = await raw.Expect<Accept>(a => a.Id == 21);
        await raw.SendAsync(new Start(21, 0, accept.Window));
        await raw.SendAsync(new Chunk(21, 0, data.AsMemory(0, 65536)));
        // The same id again, for a bigger file: refused, and the live transfer keeps its window and its state.
        await raw.SendAsync(OfferOf(21, "impostor.bin", 1L << 30));
        Assert.Contains("already in use", (await raw.Expect<Reject>(r => r.Id == 21)).Reason, StringComparison.Ordinal);
        long sent = 65536, acked = 0;
        while (sent < data.Length)
        {
            while (sent - acked < accept.Window && sent < data.Length)
            {
                await raw.SendAsync(new Chunk(21, sent, data.AsMemory((int)sent, 65536)));
                sent += 65536;
            }
            acked = (await raw.Expect<Ack>(a => a.Id == 21)).Written;
        }
        await raw.SendAsync(new Done(21, data.Length, SHA256.HashData(data)));
        await raw.Expect<Verified>(v => v.Id == 21);
        var done = await serverLog.WaitFor<TransferCompleted>(c => c.Id == TransferIds.Format(21));
        Assert.Equal(data, await File.ReadAllBytesAsync(done.Path));
        Assert.False(File.Exists(Path.Combine(downloads, "impostor.bin")));
    }

    [Fact]
    public async Task A_relayed_duplicate_id_is_refused_to_its_sender_and_the_recipient_is_not_dropped()
    {
        var (server, _) = await Nodes.StartServer();
        await using var bob = await RawClient.JoinAsync(server.Port, "bob");
        await using var alice = await RawClient.JoinAsync(server.Port, "alice");
        var data = RandomNumberGenerator.GetBytes(200_000);
        await alice.SendAsync(new Offer(31, "", [], "bob", "r.bin", data.Length, 1));
        await bob.Expect<Offer>(o => o.Id == 31);
        await bob.SendAsync(new Accept(31, 0, [], 65536, 65536));
        var accept = await alice.Expect<Accept>(a => a.Id == 31);
        await alice.SendAsync(new Offer(31, "", [], "bob", "again.bin", 5, 1));
        Assert.Contains("already in use", (await alice.Expect<Reject>(r => r.Id == 31)).Reason, StringComparison.Ordinal);
        // The first transfer goes on, one window at a time, and bob stays connected throughout.
        await alice.SendAsync(new Start(31, 0, accept.Window));
        var received = new List<byte>();
        long sent = 0;
        while (received.Count < data.Length)
        {
            while (sent - received.Count < accept.Window && sent < data.Length)
            {
                var n = (int)Math.Min(accept.MaxChunk, data.Length - sent);
                await alice.SendAsync(new Chunk(31, sent, data.AsMemory((int)sent, n)));
                sent += n;
            }
            while (received.Count < sent) received.AddRange((await bob.Expect<Chunk>(c => c.Id == 31)).Data.ToArray());
            await bob.SendAsync(new Ack(31, received.Count));
            await alice.Expect<Ack>(a => a.Id == 31 && a.Written == received.Count);
        }
        Assert.Equal(data, received.ToArray());
        Assert.DoesNotContain(await bob.ReceiveUntilQuietAsync(TimeSpan.FromMilliseconds(200)), f => f is Goodbye or Offer);
    }

    [Fact]
    public async Task Two_offers_cannot_both_count_on_the_same_free_space()
    {
        var downloads = Files.Dir("dl");
        // Pretend the disk has 1 GiB to spare: keep all but that free. Other tests write and delete files on the same disk
        // meanwhile, so the sizes leave room either way: the first offer fits while they take up to 256 MiB more, the
        // second does not fit beside it unless they free 512 MiB.
        var free = new DriveInfo(downloads).AvailableFreeSpace;
        const long size = 768L << 20;
        var (server, serverLog) = await Nodes.StartServer(("downloads", downloads),
            ("transfer.min-free-space", (free - (1L << 30)).ToString(System.Globalization.CultureInfo.InvariantCulture)));
        await using var raw = await RawClient.JoinAsync(server.Port, "big");
        await raw.SendAsync(OfferOf(41, "first.bin", size));
        var answer = await raw.Expect<Frame>(f => f is Accept { Id: 41 } or Reject { Id: 41 });
        Assert.True(answer is Accept, $"the first offer was refused: {(answer as Reject)?.Reason}");
        // 768 MiB are promised to the first: the second 768 MiB would not fit beside it.
        await raw.SendAsync(OfferOf(42, "second.bin", size));
        var reject = await raw.Expect<Reject>(r => r.Id == 42);
        Assert.Contains("not enough free space", reject.Reason, StringComparison.Ordinal);
        Assert.Contains("promised to transfers in progress", reject.Reason, StringComparison.Ordinal);
        // When the first is cancelled its promise is released, and the second fits.
        await raw.SendAsync(new Cancel(41, "", "changed my mind"));
        await serverLog.WaitFor<TransferCancelled>(c => c.Id == TransferIds.Format(41));
        await raw.SendAsync(OfferOf(43, "second.bin", size));
        await raw.Expect<Accept>(a => a.Id == 43);
    }

    [Fact]
    public async Task An_abandoned_partial_expires_at_start_and_a_kept_one_is_listed_with_its_sender()
    {
        var downloads = Files.Dir("dl");
        var partials = Path.Combine(downloads, SafeNames.PartialsFolder);
        Directory.CreateDirectory(partials);
        // Two partials with their descriptions: one untouched for ten days, one from an hour ago.
        foreach (var (key, age, file) in new[] { ("aaaaaaaaaaaaaaaa-1111111111111111", 10, "old.bin"), ("bbbbbbbbbbbbbbbb-2222222222222222", 0, "recent.bin") })
        {
            var part = Path.Combine(partials, key + ".part");
            await File.WriteAllBytesAsync(part, new byte[1000]);
            await File.WriteAllTextAsync(Path.Combine(partials, key + ".meta"),
                JsonSerializer.Serialize(new PartialFilesActor.PartialMeta(file, "alice", 5000, DateTimeOffset.UtcNow.AddDays(-age))));
            File.SetLastWriteTimeUtc(part, DateTime.UtcNow.AddDays(-age).AddHours(-1));
        }
        var (server, serverLog) = await Nodes.StartServer(("downloads", downloads), ("transfer.partial-max-age", "7d"));
        server.Commands.Tell(NodeCommands.ListTransfers.Instance);
        var listed = await serverLog.WaitFor<PartialsListed>();
        var kept = Assert.Single(listed.Partials);
        Assert.Equal(("recent.bin", "alice", 1000L, 5000L, false), (kept.File, kept.From, kept.Bytes, kept.Total, kept.InUse));
        Assert.InRange(kept.Expires, DateTimeOffset.UtcNow.AddDays(6.9), DateTimeOffset.UtcNow.AddDays(7));
        Assert.Equal(["bbbbbbbbbbbbbbbb-2222222222222222.meta", "bbbbbbbbbbbbbbbb-2222222222222222.part"],
            Directory.GetFiles(partials).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Two_programs_receiving_the_same_file_into_one_folder_both_land_it()
    {
        // Two clients (think: two processes run from the same folder) share one downloads folder; the server sends the
        // same file to both at once. Their partials would have the same name: the second finds it locked and writes
        // its own. Both transfers land, under two names, and nothing is left behind.
        var shared = Files.Dir("shared-downloads");
        var (server, serverLog) = await Nodes.StartServer();
        var (bob, bobLog) = await Nodes.StartClient("bob", server.Port, ("downloads", shared));
        var (carol, carolLog) = await Nodes.StartClient("bob2", server.Port, ("downloads", shared));
        var source = Files.Create("src/same.bin", 8 << 20, seed: 5);
        // A fingerprint both sides agree on and the same sender: the same partial key at both receivers.
        server.Commands.Tell(new NodeCommands.SendFile("bob", source));
        server.Commands.Tell(new NodeCommands.SendFile("bob2", source));
        var one = await bobLog.WaitFor<TransferCompleted>(timeout: TimeSpan.FromSeconds(60));
        var two = await carolLog.WaitFor<TransferCompleted>(timeout: TimeSpan.FromSeconds(60));
        Assert.NotEqual(one.Path, two.Path);
        Assert.Equal(["same (1).bin", "same.bin"], new[] { Path.GetFileName(one.Path), Path.GetFileName(two.Path) }.Order(StringComparer.Ordinal));
        Assert.Equal(Files.Sha256(source), Files.Sha256(one.Path));
        Assert.Equal(Files.Sha256(source), Files.Sha256(two.Path));
        Assert.Empty(Files.Partials(shared));
    }

    [Fact]
    public async Task A_partial_locked_by_another_program_is_neither_used_nor_removed()
    {
        var downloads = Files.Dir("dl");
        var (server, serverLog) = await Nodes.StartServer(("downloads", downloads));
        await using var raw = await RawClient.JoinAsync(server.Port, "alice", resumeKey: RandomNumberGenerator.GetBytes(32));
        var identity = Identities.Of((await Task.FromResult(raw.Welcome!.ResumeKey)));
        var key = PartialKey.For("", identity, "alice", "held.bin", 1000, 1);
        var partials = Path.Combine(downloads, SafeNames.PartialsFolder);
        Directory.CreateDirectory(partials);
        var held = Path.Combine(partials, key + ".part");
        await File.WriteAllBytesAsync(held, new byte[500]);
        // Another program holds the partial open, with its lock, as a receiver does.
        await using (var other = new FileStream(held, FileMode.Open, FileAccess.ReadWrite, FileShare.None))
        {
            await raw.SendAsync(OfferOf(51, "held.bin", 1000));
            var accept = await raw.Expect<Accept>(a => a.Id == 51);
            Assert.Equal(0, accept.Offset); // a private partial, not the other program's 500 bytes
            await raw.SendAsync(new Start(51, 0, accept.Window));
            var data = RandomNumberGenerator.GetBytes(1000);
            await raw.SendAsync(new Chunk(51, 0, data));
            await raw.SendAsync(new Done(51, 1000, SHA256.HashData(data)));
            await raw.Expect<Verified>(v => v.Id == 51);
            Assert.Equal(500, other.Length);
        }
        Assert.True(File.Exists(held));
        Assert.Equal(1000, new FileInfo(Path.Combine(downloads, "held.bin")).Length);
    }

    [Fact]
    public async Task An_id_in_use_in_the_other_direction_is_refused_too_and_that_transfer_goes_on()
    {
        var (server, serverLog) = await Nodes.StartServer(("downloads", Files.Dir("dl")));
        await using var alice = await RawClient.JoinAsync(server.Port, "alice");
        await using var bob = await RawClient.JoinAsync(server.Port, "bob");
        var data = RandomNumberGenerator.GetBytes(100_000);
        await alice.SendAsync(new Offer(81, "", [], "bob", "relayed.bin", data.Length, 1));
        await bob.Expect<Offer>(o => o.Id == 81);
        // bob, receiving transfer 81, offers the server a file under the same id: refused, the relayed one untouched.
        await bob.SendAsync(new Offer(81, "", [], "server", "mine.bin", 10, 1));
        Assert.Contains("already in use", (await bob.Expect<Reject>(r => r.Id == 81)).Reason, StringComparison.Ordinal);
        await bob.SendAsync(new Accept(81, 0, [], 65536, 262144));
        var accept = await alice.Expect<Accept>(a => a.Id == 81);
        await alice.SendAsync(new Start(81, 0, accept.Window));
        await alice.SendAsync(new Chunk(81, 0, data.AsMemory(0, 65536)));
        await alice.SendAsync(new Chunk(81, 65536, data.AsMemory(65536)));
        await alice.SendAsync(new Done(81, data.Length, SHA256.HashData(data)));
        var received = new List<byte>();
        while (received.Count < data.Length) received.AddRange((await bob.Expect<Chunk>(c => c.Id == 81)).Data.ToArray());
        await bob.Expect<Done>(d => d.Id == 81);
        await bob.SendAsync(new Verified(81, SHA256.HashData(data)));
        await alice.Expect<Verified>(v => v.Id == 81);
        Assert.Equal(data, received.ToArray());
        Assert.Empty(serverLog.All<TransferOffered>());
    }

    [Fact]
    public async Task An_offer_cancelled_at_once_leaves_its_partial_free_for_a_later_resume()
    {
        var downloads = Files.Dir("dl");
        var (server, serverLog) = await Nodes.StartServer(("downloads", downloads), ("transfer.resume-min-size", "0"));
        var key = RandomNumberGenerator.GetBytes(32);
        var data = RandomNumberGenerator.GetBytes(300_000);
        await using (var alice = await RawClient.JoinAsync(server.Port, "alice", resumeKey: key))
        {
            // Offered and cancelled in one breath, before the receiver has its partial file.
            await alice.SendRawAsync([.. FrameEncoder.Encode(OfferOf(91, "again.bin", data.Length)), .. FrameEncoder.Encode(new Cancel(91, "", "oops"))]);
            await serverLog.WaitFor<TransferCancelled>(c => c.Id == TransferIds.Format(91));
            // The same file again: its partial must be the shared, resumable one (the claim above was given back).
            await alice.SendAsync(OfferOf(92, "again.bin", data.Length));
            var accept = await alice.Expect<Accept>(a => a.Id == 92);
            await alice.SendAsync(new Start(92, 0, 4 * 65536));
            await alice.SendAsync(new Chunk(92, 0, data.AsMemory(0, 65536)));
            await alice.Expect<Ack>(a => a.Id == 92);
            alice.Vanish();
        }
        await serverLog.WaitFor<TransferFailed>(f => f.Id == TransferIds.Format(92));
        Assert.Single(Files.Partials(downloads), p => p.EndsWith(".part", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_file_below_the_resume_size_that_is_cut_off_leaves_nothing_behind_and_starts_over()
    {
        var downloads = Files.Dir("dl");
        var (server, serverLog) = await Nodes.StartServer(("downloads", downloads), ("transfer.resume-min-size", "1m"));
        var key = RandomNumberGenerator.GetBytes(32);
        var data = RandomNumberGenerator.GetBytes(300_000);
        await using (var alice = await RawClient.JoinAsync(server.Port, "alice", resumeKey: key))
        {
            await alice.SendAsync(OfferOf(93, "small.bin", data.Length));
            await alice.Expect<Accept>(a => a.Id == 93);
            await alice.SendAsync(new Start(93, 0, 4 * 65536));
            await alice.SendAsync(new Chunk(93, 0, data.AsMemory(0, 65536)));
            await alice.Expect<Ack>(a => a.Id == 93);
            alice.Vanish();
        }
        await serverLog.WaitFor<TransferFailed>(f => f.Id == TransferIds.Format(93));
        // Not kept for a resume: no partial, no description of one.
        var partials = Path.Combine(downloads, ".akka-tcp-transfer");
        Assert.Empty(Directory.Exists(partials) ? Directory.GetFiles(partials) : []);
        await using var again = await RawClient.JoinAsync(server.Port, "alice", resumeKey: key);
        await again.SendAsync(OfferOf(94, "small.bin", data.Length));
        Assert.Equal(0, (await again.Expect<Accept>(a => a.Id == 94)).Offset);
    }

    [Fact]
    public async Task Offers_with_the_same_id_on_two_connections_each_reserve_their_own_space()
    {
        var downloads = Files.Dir("dl");
        // Pretend the disk has 2 GiB to spare. Other tests write and delete files on the same disk meanwhile: the sizes
        // leave 400 MiB of room either way (the two first fit unless they take that much more, the third does not fit
        // unless they free as much).
        var free = new DriveInfo(downloads).AvailableFreeSpace;
        const long size = 800L << 20;
        var (server, _) = await Nodes.StartServer(("downloads", downloads),
            ("transfer.min-free-space", (free - (2L << 30)).ToString(System.Globalization.CultureInfo.InvariantCulture)));
        await using var a = await RawClient.JoinAsync(server.Port, "a");
        await using var b = await RawClient.JoinAsync(server.Port, "b");
        await using var c = await RawClient.JoinAsync(server.Port, "c");
        // Two offers of 800 MiB under the same id, from two connections: 1.6 GiB promised, both fit in 2...
        await a.SendAsync(OfferOf(1, "a.bin", size));
        await a.Expect<Accept>(x => x.Id == 1);
        await b.SendAsync(OfferOf(1, "b.bin", size));
        await b.Expect<Accept>(x => x.Id == 1);
        // ...a third does not: both earlier promises count, though they share an id.
        await c.SendAsync(OfferOf(2, "c.bin", size));
        var answer = await c.Expect<Frame>(f => f is Accept { Id: 2 } or Reject { Id: 2 });
        Assert.Contains("not enough free space", Assert.IsType<Reject>(answer).Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_receiver_acknowledging_bytes_never_sent_fails_the_relay_at_both_ends()
    {
        var (server, _) = await Nodes.StartServer();
        await using var alice = await RawClient.JoinAsync(server.Port, "alice");
        await using var bob = await RawClient.JoinAsync(server.Port, "bob");
        await alice.SendAsync(new Offer(95, "", [], "bob", "x.bin", 10_000_000, 1));
        await bob.Expect<Offer>(o => o.Id == 95);
        await bob.SendAsync(new Accept(95, 0, [], 65536, 131072));
        var accept = await alice.Expect<Accept>(x => x.Id == 95);
        await alice.SendAsync(new Start(95, 0, accept.Window));
        await alice.SendAsync(new Chunk(95, 0, new byte[65536]));
        await bob.Expect<Chunk>(x => x.Id == 95);
        // bob claims to have everything: were the server to believe it, alice's window would be opened wide.
        await bob.SendAsync(new Ack(95, 10_000_000));
        Assert.Contains("beyond the 65536 sent", (await alice.Expect<Fail>(f => f.Id == 95)).Reason, StringComparison.Ordinal);
        Assert.Contains("acknowledgement", (await bob.Expect<Fail>(f => f.Id == 95)).Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Two_peers_using_the_same_id_cannot_take_over_each_others_entry_in_the_transfer_list()
    {
        var (server, serverLog) = await Nodes.StartServer(("downloads", Files.Dir("dl")), ("transfer.auto-accept", "off"));
        await using var first = await RawClient.JoinAsync(server.Port, "first");
        await first.SendAsync(OfferOf(7, "first.bin", 10));
        await serverLog.WaitFor<TransferOffered>(o => o.From == "first");
        await using var second = await RawClient.JoinAsync(server.Port, "second");
        await second.SendAsync(OfferOf(7, "second.bin", 10));
        await serverLog.WaitFor<TransferOffered>(o => o.From == "second");
        // The id names the first one's transfer on this node; the second's offer does not take the entry over.
        var mark = serverLog.Mark();
        server.Commands.Tell(NodeCommands.ListTransfers.Instance);
        var listed = await serverLog.WaitFor<TransfersListed>(after: mark);
        Assert.Equal("first", Assert.Single(listed.Transfers, t => t.Id == "00000007").Peer);
        server.Commands.Tell(new NodeCommands.RejectTransfer("00000007"));
        Assert.Equal(7u, (await first.Expect<Reject>()).Id);
        Assert.DoesNotContain(await second.ReceiveUntilQuietAsync(TimeSpan.FromMilliseconds(300)), f => f is Reject);
    }
}
