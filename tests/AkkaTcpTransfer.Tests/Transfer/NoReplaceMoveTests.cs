using AkkaTcpTransfer.Transfer.Storage;

namespace AkkaTcpTransfer.Tests.Transfer;

public sealed class NoReplaceMoveTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("att-move-").FullName;

    [Fact]
    public void Of_many_moves_racing_to_one_name_exactly_one_wins_and_nothing_is_overwritten()
    {
        for (var round = 0; round < 300; round++)
        {
            var target = Path.Combine(_dir, $"landed-{round}.bin");
            var sources = Enumerable.Range(0, 8).Select(i =>
            {
                var path = Path.Combine(_dir, $"part-{round}-{i}");
                File.WriteAllText(path, $"writer {i}");
                return path;
            }).ToList();
            var won = new bool[sources.Count];
            using var start = new Barrier(sources.Count);
            var threads = Enumerable.Range(0, sources.Count).Select(i => new Thread(() =>
            {
                start.SignalAndWait();
                won[i] = NoReplaceMove.TryMove(sources[i], target);
            })).ToList();
            threads.ForEach(t => t.Start());
            threads.ForEach(t => t.Join());
            var winner = Assert.Single(Enumerable.Range(0, won.Length), i => won[i]);
            Assert.Equal($"writer {winner}", File.ReadAllText(target));
            // The losers' files are where they were, untouched.
            Assert.All(Enumerable.Range(0, won.Length).Where(i => i != winner), i => Assert.Equal($"writer {i}", File.ReadAllText(sources[i])));
            Assert.False(File.Exists(sources[winner]));
        }
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
