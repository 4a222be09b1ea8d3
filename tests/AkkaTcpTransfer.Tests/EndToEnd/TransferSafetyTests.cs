using System.Security.Cryptography;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Hosting;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Tests.Support;
using AkkaTcpTransfer.Transfer;

namespace AkkaTcpTransfer.Tests.EndToEnd;

/// <summary>Hostile names, refusals, cancels from either side, a file that changes under its sender, and a raw peer
/// that plays sender or receiver to the byte.</summary>
public sealed class TransferSafetyTests : NodesAndFiles
{
    private ServerNode _server = null!;
    private EventLog _serverLog = null!;
    private string _downloads = null!;

    public override async Task InitializeAsync()
    {
        _downloads = Files.Dir("server-downloads");
        (_server, _serverLog) = await Nodes.StartServer(("downloads", _downloads), ("transfer.max-file-size", "100m"));
    }

    private static Offer OfferOf(uint id, string file, long size, long fingerprint = 1) => new(id, "", [], "server", file, size, fingerprint);

    public static TheoryData<string> HostileNames => new()
    {
        "../escape.txt", "a/../../escape.txt", "..", ".", "/etc/passwd", "/tmp/abs.txt", "C:\\Windows\\win.ini", "C:x.txt",
        "dir\\..\\..\\escape.txt", "back\\slash.txt", "", "a//b.txt", "ctrl\u0001char.txt", "bell\u0007.txt", "nul\0byte.txt",
        "new\nline.txt", "   ", "...", "trailing.", "CON", "con.txt", "LPT1.log", "COM0", "lpt0.txt", "COM\u00b9", "lpt\u00b3.log", ".akka-tcp-transfer/evil.part", "stream.txt:hidden",
        "rtl\u202Etxt.exe", "a/./b.txt",
        // Invisible and text-direction characters that disguise a name: "invoice<RLO>fdp.exe" shows as "invoiceexe.pdf".
        "invoice\u202Efdp.exe", "lre\u202Aa.txt", "iso\u2066late.txt", "pdi\u2069.txt", "zero\u200Bwidth.txt", "bom\uFEFF.txt",
        "alm\u061C.txt", "word\u2060joiner.txt", "soft\u00ADhyphen.txt",
        // Longer than a file system can hold once under the downloads folder (4,014 bytes here, each part legal), and
        // longer than any offer may name (4,112 bytes): both refused at the offer, before a byte is sent.
        string.Join('/', Enumerable.Repeat(new string('d', 250), 16)),
        string.Join('/', Enumerable.Repeat(new string('d', 240), 17)),
    };

    [Theory]
    [MemberData(nameof(HostileNames))]
    public async Task A_hostile_name_is_refused_and_nothing_lands_outside_the_downloads_folder(string name)
    {
        await using var raw = await RawClient.JoinAsync(_server.Port, "mallory");
        await raw.SendAsync(OfferOf(101, name, 10));
        var reject = await raw.Expect<Reject>(r => r.Id == 101);
        Assert.True(reject.Reason.Contains("name", StringComparison.OrdinalIgnoreCase) || reject.Reason.Contains("path", StringComparison.Ordinal), reject.Reason);
        var failed = await _serverLog.WaitFor<TransferFailed>(f => f.Id == TransferIds.Format(101));
        Assert.StartsWith("refused: ", failed.Reason, StringComparison.Ordinal);
        Assert.Empty(Files.List(_downloads));
        Assert.False(File.Exists(Path.Combine(Files.Root, "escape.txt")));
    }

    [Fact]
    public async Task A_raw_peer_following_the_protocol_to_the_byte_gets_its_file_verified()
    {
        await using var raw = await RawClient.JoinAsync(_server.Port, "wire");
        var data = RandomNumberGenerator.GetBytes(150_000);
        await raw.SendAsync(OfferOf(202, "sub/dir/wire.bin", data.Length));
        var accept = await raw.Expect<Accept>(a => a.Id == 202);
        Assert.Equal((0L, 0), (accept.Offset, accept.PrefixSha256.Length));
        Assert.True(accept.MaxChunk >= 1024 && accept.Window >= accept.MaxChunk);
        await raw.SendAsync(new Start(202, 0, accept.MaxChunk * 4)); // a small window: one ack per chunk
        var sent = 0;
        while (sent < data.Length)
        {
            var n = Math.Min(accept.MaxChunk, data.Length - sent);
            await raw.SendAsync(new Chunk(202, sent, data.AsMemory(sent, n)));
            sent += n;
            Assert.Equal(sent, (await raw.Expect<Ack>(a => a.Id == 202)).Written);
        }
        await raw.SendAsync(new Done(202, data.Length, SHA256.HashData(data)));
        var verified = await raw.Expect<Verified>(v => v.Id == 202);
        Assert.Equal(SHA256.HashData(data), verified.Sha256);
        var completed = await _serverLog.WaitFor<TransferCompleted>(c => c.Id == TransferIds.Format(202));
        Assert.Equal(Path.Combine(_downloads, "sub", "dir", "wire.bin"), completed.Path);
        Assert.Equal(data, await File.ReadAllBytesAsync(completed.Path));
        Assert.Equal("wire", (await _serverLog.WaitFor<TransferOffered>(o => o.Id == TransferIds.Format(202))).From);
    }

    [Fact]
    public async Task Wrong_hash_fails_the_transfer_and_leaves_no_file()
    {
        await using var raw = await RawClient.JoinAsync(_server.Port, "liar");
        var data = RandomNumberGenerator.GetBytes(5000);
        await raw.SendAsync(OfferOf(303, "lie.bin", data.Length));
        await raw.Expect<Accept>(a => a.Id == 303);
        await raw.SendAsync(new Start(303, 0, 65536));
        await raw.SendAsync(new Chunk(303, 0, data));
        await raw.SendAsync(new Done(303, data.Length, new byte[32]));
        var fail = await raw.Expect<Fail>(f => f.Id == 303);
        Assert.Contains("SHA-256 mismatch", fail.Reason, StringComparison.Ordinal);
        Assert.Contains("SHA-256 mismatch", (await _serverLog.WaitFor<TransferFailed>(f => f.Id == TransferIds.Format(303))).Reason, StringComparison.Ordinal);
        Assert.Empty(Files.List(_downloads));
        Assert.Empty(Files.Partials(_downloads));
    }

    [Fact]
    public async Task A_sender_that_ignores_the_window_has_its_transfer_failed_before_its_data_piles_up()
    {
        var (alice, aliceLog) = await Nodes.StartClient("alice", _server.Port, ("downloads", Files.Dir("alice")));
        await using var raw = await RawClient.JoinAsync(_server.Port, "flooder");
        await raw.SendAsync(OfferOf(404, "flood.bin", 50_000_000));
        var accept = await raw.Expect<Accept>(a => a.Id == 404);
        // It declares half a chunk of window, then sends whole chunks: the first already breaks it, whatever the
        // receiver acknowledges meanwhile (a receiver granting megabytes may otherwise keep up with a flood). 16 MiB follow.
        var declared = accept.MaxChunk / 2;
        await raw.SendAsync(new Start(404, 0, declared));
        var chunk = new byte[accept.MaxChunk];
        for (long offset = 0; offset <= 16L << 20; offset += chunk.Length)
            await raw.SendAsync(new Chunk(404, offset, chunk));
        var fail = await raw.Expect<Fail>(f => f.Id == 404);
        Assert.Contains($"more than the flow-control window of {declared} bytes", fail.Reason, StringComparison.Ordinal);
        Assert.Contains("flow-control window", (await _serverLog.WaitFor<TransferFailed>(f => f.Id == TransferIds.Format(404))).Reason, StringComparison.Ordinal);
        // The receiver never saw a byte of it: the first chunk already broke the window, and what came after was
        // dropped where it was read.
        Assert.DoesNotContain(_serverLog.All<TransferProgress>(), p => p.Id == TransferIds.Format(404) && p.Bytes > 0);
        Assert.All(Files.Partials(_downloads), p => Assert.Equal(0, new FileInfo(Path.Combine(_downloads, ".akka-tcp-transfer", p)).Length));
        // The connection itself is fine (the 16 MiB were read and dropped, not left to block it).
        await raw.SendAsync(WhoRequest.Instance);
        await raw.Expect<WhoReply>();
        // Everyone else carries on.
        alice.Commands.Tell(new NodeCommands.Say("unaffected"));
        await _serverLog.WaitFor<ChatReceived>(c => c.Text == "unaffected");
    }

    [Fact]
    public async Task The_transfers_of_one_connection_share_what_lies_beyond_the_first_window()
    {
        await using var raw = await RawClient.JoinAsync(_server.Port, "greedy");
        const int floor = 512 * 1024, max = 8 << 20;
        await raw.SendAsync(OfferOf(601, "one.bin", 50_000_000));
        Assert.Equal(max, (await raw.Expect<Accept>(a => a.Id == 601)).Window);
        // A second transfer on the same connection gets its own 512 KiB; the 7.5 MiB beyond are the first one's.
        await raw.SendAsync(OfferOf(602, "two.bin", 50_000_000));
        Assert.Equal(floor, (await raw.Expect<Accept>(a => a.Id == 602)).Window);
        // The first declares only 1 MiB in its Start: the rest goes back, and a third offer gets it.
        await raw.SendAsync(new Start(601, 0, 1 << 20));
        await raw.SendAsync(OfferOf(603, "three.bin", 50_000_000));
        Assert.Equal(max - (1 << 20) + floor, (await raw.Expect<Accept>(a => a.Id == 603)).Window);
        // A transfer that ends gives back all it held: a fourth offer after the first is cancelled gets the first's MiB.
        await raw.SendAsync(new Cancel(601, "", "changed my mind"));
        await _serverLog.WaitFor<TransferCancelled>(c => c.Id == TransferIds.Format(601));
        await raw.SendAsync(new Cancel(603, "", "changed my mind"));
        await _serverLog.WaitFor<TransferCancelled>(c => c.Id == TransferIds.Format(603));
        await raw.SendAsync(OfferOf(604, "four.bin", 50_000_000));
        Assert.Equal(max, (await raw.Expect<Accept>(a => a.Id == 604)).Window);
    }

    [Fact]
    public async Task A_sender_whose_window_is_below_the_receivers_ack_interval_still_delivers()
    {
        // alice starts at 64 KiB, the server grants 8 MiB and so acknowledges every 128 KiB: alice must run at least
        // that much, or she would wait for an ack that never comes until the stall timeout.
        var (alice, aliceLog) = await Nodes.StartClient("alice", _server.Port, ("downloads", Files.Dir("alice")), ("transfer.window", "64k"),
            ("transfer.chunk-size", "16k"));
        var source = Files.Create("src/small-window.bin", 3 << 20, seed: 9);
        alice.Commands.Tell(new NodeCommands.SendFile(null, source));
        var received = await _serverLog.WaitFor<TransferCompleted>(c => c.File == "small-window.bin", timeout: TimeSpan.FromSeconds(20));
        Assert.Equal(Files.Sha256(source), Files.Sha256(received.Path));
    }

    [Fact]
    public async Task An_offer_above_the_size_limit_is_refused_with_the_reason()
    {
        var (alice, aliceLog) = await Nodes.StartClient("alice", _server.Port, ("downloads", Files.Dir("alice")));
        var big = Files.Create("src/huge.bin", 0);
        // Make it look huge without writing it: a sparse file.
        await using (var f = new FileStream(big, FileMode.Open)) f.SetLength(200L * 1024 * 1024);
        alice.Commands.Tell(new NodeCommands.SendFile(null, big));
        var failed = await aliceLog.WaitFor<TransferFailed>(f => f.File == "huge.bin");
        Assert.Contains("refused by server", failed.Reason, StringComparison.Ordinal);
        Assert.Contains("larger than this node accepts", failed.Reason, StringComparison.Ordinal);
        Assert.Empty(Files.List(_downloads));
    }

    [Fact]
    public async Task The_sender_cancels_while_the_receiver_is_not_keeping_up()
    {
        // bob is a raw receiver that accepts and then never acknowledges: alice's window fills and she waits.
        await using var bob = await RawClient.JoinAsync(_server.Port, "bob");
        var (alice, aliceLog) = await Nodes.StartClient("alice", _server.Port, ("downloads", Files.Dir("alice")));
        var source = Files.Create("src/slow.bin", 10_000_000, seed: 5);
        alice.Commands.Tell(new NodeCommands.SendFile("bob", source));
        var offer = await bob.Expect<Offer>();
        Assert.Equal(("alice", "slow.bin", 10_000_000L), (offer.From, offer.File, offer.Size));
        await bob.SendAsync(new Accept(offer.Id, 0, [], 65536, 262144));
        await bob.Expect<Start>();
        var received = 0L;
        while (received < 262144) received += (await bob.Expect<Chunk>()).Data.Length;

        alice.Commands.Tell(new NodeCommands.CancelTransfer(TransferIds.Format(offer.Id)));
        // Exactly the window, not a byte more: alice's frames keep their order, so any chunk beyond the window would
        // come before her Cancel.
        Frame? next;
        while ((next = await bob.ReceiveAsync()) is not Cancel)
            Assert.False(next is Chunk, $"a chunk beyond the window: {next}");
        var cancel = (Cancel)next;
        Assert.Equal(offer.Id, cancel.Id);
        Assert.Equal("alice", cancel.By);
        var cancelled = await aliceLog.WaitFor<TransferCancelled>(c => c.Id == TransferIds.Format(offer.Id));
        Assert.Equal("alice", cancelled.By);
    }

    [Fact]
    public async Task The_receiver_cancels_and_its_partial_file_is_removed()
    {
        await using var raw = await RawClient.JoinAsync(_server.Port, "carol");
        await raw.SendAsync(OfferOf(505, "halfway.bin", 1_000_000));
        await raw.Expect<Accept>(a => a.Id == 505);
        await raw.SendAsync(new Start(505, 0, 4 * 65536));
        await raw.SendAsync(new Chunk(505, 0, new byte[65536]));
        await raw.Expect<Ack>(a => a.Id == 505);
        Assert.Single(Files.Partials(_downloads));

        _server.Commands.Tell(new NodeCommands.CancelTransfer(TransferIds.Format(505)));
        var cancel = await raw.Expect<Cancel>(c => c.Id == 505);
        Assert.Equal("server", cancel.By);
        Assert.Equal("server", (await _serverLog.WaitFor<TransferCancelled>(c => c.Id == TransferIds.Format(505))).By);
        // The receiver reports the cancel only after its writer has deleted the partial file.
        Assert.Empty(Files.Partials(_downloads));
        Assert.Empty(Files.List(_downloads));
    }

    [Fact]
    public async Task A_cancel_from_the_sender_reaches_a_receiver_that_waits_for_a_decision()
    {
        await using var nodes = new TestNodes();
        var (server, _) = await nodes.StartServer(("downloads", Files.Dir("s2")));
        var (alice, aliceLog) = await nodes.StartClient("alice", server.Port, ("downloads", Files.Dir("a2")));
        var (bob, bobLog) = await nodes.StartClient("bob", server.Port, ("downloads", Files.Dir("b2")), ("transfer.auto-accept", "off"));
        var source = Files.Create("src/offer.bin", 1000, seed: 9);

        // alice cancels her offer while bob has not decided: bob hears of it through the relay.
        alice.Commands.Tell(new NodeCommands.SendFile("bob", source));
        var offered = await bobLog.WaitFor<TransferOffered>();
        alice.Commands.Tell(new NodeCommands.CancelTransfer(offered.Id));
        Assert.Equal("alice", (await bobLog.WaitFor<TransferCancelled>(c => c.Id == offered.Id)).By);
        Assert.Equal("alice", (await aliceLog.WaitFor<TransferCancelled>(c => c.Id == offered.Id)).By);

        // bob declines the next offer: alice's transfer fails with his reason.
        alice.Commands.Tell(new NodeCommands.SendFile("bob", source));
        var second = await bobLog.WaitFor<TransferOffered>(o => o.Id != offered.Id);
        bob.Commands.Tell(new NodeCommands.RejectTransfer(second.Id));
        Assert.Contains("declined", (await aliceLog.WaitFor<TransferFailed>(f => f.Id == second.Id)).Reason, StringComparison.Ordinal);

        // and accepts the third.
        alice.Commands.Tell(new NodeCommands.SendFile("bob", source));
        var third = await bobLog.WaitFor<TransferOffered>(o => o.Id != offered.Id && o.Id != second.Id);
        bob.Commands.Tell(new NodeCommands.AcceptTransfer(third.Id));
        var done = await bobLog.WaitFor<TransferCompleted>(c => c.Id == third.Id);
        Assert.Equal(Files.Sha256(source), Files.Sha256(done.Path));
    }

    [Fact]
    public async Task A_file_that_changes_while_it_is_sent_fails_at_both_ends()
    {
        await using var bob = await RawClient.JoinAsync(_server.Port, "bob");
        var (alice, aliceLog) = await Nodes.StartClient("alice", _server.Port, ("downloads", Files.Dir("alice")));
        var source = Files.Create("src/moving.bin", 300_000, seed: 6);
        alice.Commands.Tell(new NodeCommands.SendFile("bob", source));
        var offer = await bob.Expect<Offer>();
        await bob.SendAsync(new Accept(offer.Id, 0, [], 65536, 65536));
        await bob.Expect<Start>();
        var first = await bob.Expect<Chunk>();
        File.SetLastWriteTimeUtc(source, DateTime.UtcNow.AddMinutes(1)); // someone touches the file
        var written = (long)first.Data.Length;
        await bob.SendAsync(new Ack(offer.Id, written));
        while (written < offer.Size)
        {
            written += (await bob.Expect<Chunk>()).Data.Length;
            await bob.SendAsync(new Ack(offer.Id, written));
        }
        var fail = await bob.Expect<Fail>(f => f.Id == offer.Id);
        Assert.Contains("changed while it was being sent", fail.Reason, StringComparison.Ordinal);
        Assert.Contains("changed while it was being sent", (await aliceLog.WaitFor<TransferFailed>()).Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_file_deleted_before_its_turn_fails_clearly()
    {
        var (alice, aliceLog) = await Nodes.StartClient("alice", _server.Port, ("downloads", Files.Dir("alice")));
        var source = Files.Create("src/gone.bin", 10, seed: 1);
        File.Delete(source);
        alice.Commands.Tell(new NodeCommands.SendFile(null, source));
        Assert.Contains("no such file", (await aliceLog.WaitFor<ErrorOccurred>()).Message, StringComparison.Ordinal);
    }
}
