using System.Security.Cryptography;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Hosting;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Tests.Support;
using AkkaTcpTransfer.Transfer;

namespace AkkaTcpTransfer.Tests.EndToEnd;

/// <summary>The order of a transfer's frames on the data path: Done ends the chunks, a Cancel ends the transfer with
/// chunks still queued behind it. Each break of that order is refused where chunks are routed, the transfer ends with a
/// reason, nothing half-written is left, and the connection carries on. Directly to the server, and relayed.</summary>
public sealed class TransferOrderingTests : NodesAndFiles
{
    private const int ChunkSize = 65536;
    private ServerNode _server = null!;
    private EventLog _serverLog = null!;
    private string _downloads = null!;

    public override async Task InitializeAsync()
    {
        _downloads = Files.Dir("server-downloads");
        (_server, _serverLog) = await Nodes.StartServer(("downloads", _downloads));
    }

    private static Offer OfferOf(uint id, string file, long size) => new(id, "", [], "server", file, size, 1);

    /// <summary>Frames up to WhoReply, which proves the connection still answers; none of them may end it.</summary>
    private static async Task<List<Frame>> StillServed(RawClient raw)
    {
        await raw.SendAsync(WhoRequest.Instance);
        var seen = new List<Frame>();
        Frame? next;
        while ((next = await raw.ReceiveAsync()) is not WhoReply)
        {
            Assert.False(next is null or Goodbye, $"the connection was ended: {next}");
            seen.Add(next!);
        }
        return seen;
    }

    [Fact]
    public async Task Done_before_the_last_chunk_fails_the_transfer_and_the_late_chunk_is_dropped()
    {
        await using var raw = await RawClient.JoinAsync(_server.Port, "early");
        var data = RandomNumberGenerator.GetBytes(3 * ChunkSize);
        await raw.SendAsync(OfferOf(11, "early.bin", data.Length));
        await raw.Expect<Accept>(a => a.Id == 11);
        await raw.SendAsync(new Start(11, 0, 4 * ChunkSize));
        await raw.SendAsync(new Chunk(11, 0, data.AsMemory(0, ChunkSize)));
        await raw.SendAsync(new Chunk(11, ChunkSize, data.AsMemory(ChunkSize, ChunkSize)));
        // The right size and the right hash, but two thirds of the bytes: then the last third.
        await raw.SendAsync(new Done(11, data.Length, SHA256.HashData(data)));
        await raw.SendAsync(new Chunk(11, 2 * ChunkSize, data.AsMemory(2 * ChunkSize)));

        var fail = await raw.Expect<Fail>(f => f.Id == 11);
        Assert.Contains($"Done for {data.Length} bytes after {2 * ChunkSize} were sent", fail.Reason, StringComparison.Ordinal);
        var failed = await _serverLog.WaitFor<TransferFailed>(f => f.Id == TransferIds.Format(11));
        Assert.Contains("protocol violation", failed.Reason, StringComparison.Ordinal);
        var after = await StillServed(raw);
        Assert.DoesNotContain(after, f => f is Verified);
        Assert.Empty(Files.List(_downloads));
        Assert.Empty(Files.Partials(_downloads));
    }

    [Fact]
    public async Task A_chunk_after_Done_is_never_written_and_the_verified_file_stands()
    {
        await using var raw = await RawClient.JoinAsync(_server.Port, "extra");
        var data = RandomNumberGenerator.GetBytes(2 * ChunkSize);
        await raw.SendAsync(OfferOf(12, "extra.bin", data.Length));
        await raw.Expect<Accept>(a => a.Id == 12);
        await raw.SendAsync(new Start(12, 0, 4 * ChunkSize));
        await raw.SendAsync(new Chunk(12, 0, data.AsMemory(0, ChunkSize)));
        await raw.SendAsync(new Chunk(12, ChunkSize, data.AsMemory(ChunkSize)));
        await raw.SendAsync(new Done(12, data.Length, SHA256.HashData(data)));
        // One more chunk, within the window, as if the file went on.
        await raw.SendAsync(new Chunk(12, data.Length, new byte[ChunkSize]));

        var verified = await raw.Expect<Verified>(v => v.Id == 12);
        Assert.Equal(SHA256.HashData(data), verified.Sha256);
        var done = await _serverLog.WaitFor<TransferCompleted>(c => c.Id == TransferIds.Format(12));
        await StillServed(raw);
        Assert.Equal(data, await File.ReadAllBytesAsync(done.Path));
        Assert.Empty(Files.Partials(_downloads));
    }

    [Fact]
    public async Task A_cancel_with_chunks_queued_behind_it_ends_the_transfer_and_the_rest_is_dropped_quietly()
    {
        await using var raw = await RawClient.JoinAsync(_server.Port, "quitter");
        var chunk = RandomNumberGenerator.GetBytes(ChunkSize);
        await raw.SendAsync(OfferOf(13, "quit.bin", 256L * ChunkSize));
        var accept = await raw.Expect<Accept>(a => a.Id == 13);
        await raw.SendAsync(new Start(13, 0, accept.Window));
        // A window's worth without waiting for one ack, the Cancel, then more chunks as a sender with a queue would.
        var inWindow = Math.Min(accept.Window / ChunkSize, 64);
        for (var i = 0; i < inWindow; i++) await raw.SendAsync(new Chunk(13, (long)i * ChunkSize, chunk));
        await raw.SendAsync(new Cancel(13, "", "changed my mind"));
        for (var i = inWindow; i < inWindow + 4; i++) await raw.SendAsync(new Chunk(13, (long)i * ChunkSize, chunk));

        var cancelled = await _serverLog.WaitFor<TransferCancelled>(c => c.Id == TransferIds.Format(13));
        Assert.Equal("quitter", cancelled.By);
        // Nothing answers the chunks that followed the Cancel: no Fail, no violation, and the connection still serves.
        var after = await StillServed(raw);
        Assert.DoesNotContain(after, f => f is Fail || f is Verified);
        Assert.DoesNotContain(_serverLog.All<TransferFailed>(), f => f.Id == TransferIds.Format(13));
        Assert.Empty(Files.List(_downloads));
        Assert.Empty(Files.Partials(_downloads));
    }

    [Fact]
    public async Task A_relay_refuses_a_chunk_after_Done_at_both_ends()
    {
        await using var bob = await RawClient.JoinAsync(_server.Port, "bob");
        await using var alice = await RawClient.JoinAsync(_server.Port, "alice");
        var data = RandomNumberGenerator.GetBytes(ChunkSize);
        await alice.SendAsync(new Offer(14, "", [], "bob", "relayed.bin", 2L * ChunkSize, 1));
        var offer = await bob.Expect<Offer>();
        await bob.SendAsync(new Accept(offer.Id, 0, [], ChunkSize, 4 * ChunkSize));
        await alice.Expect<Accept>(a => a.Id == 14);
        await alice.SendAsync(new Start(14, 0, 4 * ChunkSize));
        await alice.SendAsync(new Chunk(14, 0, data));
        await alice.SendAsync(new Done(14, 2L * ChunkSize, new byte[32]));

        // The server stops it: alice hears why, bob hears it failed, and the Done never reached him.
        var fail = await alice.Expect<Fail>(f => f.Id == 14);
        Assert.Contains($"Done for {2 * ChunkSize} bytes after {ChunkSize} were sent", fail.Reason, StringComparison.Ordinal);
        var seen = new List<Frame>();
        Frame? next;
        while ((next = await bob.ReceiveAsync()) is not Fail)
        {
            Assert.NotNull(next);
            seen.Add(next);
        }
        Assert.Equal(offer.Id, ((Fail)next).Id);
        Assert.DoesNotContain(seen, f => f is Done);
        await StillServed(alice);
        await StillServed(bob);
    }
}
