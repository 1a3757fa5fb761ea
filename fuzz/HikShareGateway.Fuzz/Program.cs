using HikShareGateway.Fuzz;
using SharpFuzz;

// hikshare-fuzz TARGET            run under afl-fuzz (SharpFuzz's fork server; input on stdin)
// hikshare-fuzz TARGET FILE...    run the target once over each file (a crash reproduces with its stack trace)
// hikshare-fuzz --list            the targets
if (args.Length == 0 || args[0] is "-h" or "--help")
{
    Console.Error.WriteLine("usage: hikshare-fuzz TARGET [FILE...] | --list");
    return 64;
}
if (args[0] == "--list")
{
    foreach (var name in Targets.All.Keys)
    {
        Console.WriteLine(name);
    }
    return 0;
}
if (!Targets.All.TryGetValue(args[0], out var target))
{
    Console.Error.WriteLine($"hikshare-fuzz: unknown target \"{args[0]}\" (--list shows them)");
    return 64;
}
if (args.Length > 1)
{
    foreach (var file in args[1..])
    {
        target(File.ReadAllBytes(file));
    }
    return 0;
}
Fuzzer.OutOfProcess.Run(stream =>
{
    using var buffer = new MemoryStream();
    stream.CopyTo(buffer);
    target(buffer.ToArray());
});
return 0;
