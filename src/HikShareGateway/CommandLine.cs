using System.CommandLine;
using System.CommandLine.Parsing;
using HikShare.CommandLineSupport;

namespace HikShareGateway;

public sealed class CommandLineException(string message) : Exception(message);

/// <summary>
/// The parsed command line as the commands read it: the command, <c>--config FILE</c>, and the options given
/// (name without dashes → last value, null for a flag). Parsed by System.CommandLine from the tree of
/// <see cref="Commands.All"/>, so an option no command declares is an error, not silently ignored.
/// </summary>
public sealed record CommandLine(string Command, string? ConfigPath, IReadOnlyDictionary<string, string?> Options, IReadOnlyList<string> Arguments)
{
    /// <summary>Parses <paramref name="args"/>; a usage error throws <see cref="CommandLineException"/> naming the token.</summary>
    public static CommandLine Parse(IReadOnlyList<string> args)
    {
        var result = Commands.CreateRoot(TextWriter.Null, TextWriter.Null).Parse(args);
        if (CommandLineUsage.Describe(result) is { } problem)
        {
            throw new CommandLineException(problem);
        }
        return From(result);
    }

    /// <summary>The record of a successful parse. The top command is <c>run</c>.</summary>
    internal static CommandLine From(ParseResult result)
    {
        var command = result.CommandResult.Parent is null ? "run" : result.CommandResult.Command.Name;
        var options = new Dictionary<string, string?>(StringComparer.Ordinal);
        for (SymbolResult? r = result.CommandResult; r is not null; r = r.Parent)
        {
            if (r is not CommandResult c)
            {
                continue;
            }
            foreach (var child in c.Children)
            {
                if (child is not OptionResult { Implicit: false } o)
                {
                    continue;
                }
                var name = o.Option.Name.TrimStart('-');
                if (o.Option is Option<bool> flag)
                {
                    if (result.GetValue(flag))
                    {
                        options.TryAdd(name, null);
                    }
                    continue;
                }
                options.TryAdd(name, o.Tokens.Count > 0 ? o.Tokens[^1].Value : null);
            }
        }
        options.Remove("help");
        string? config = null;
        if (options.Remove(Commands.ConfigOptionName, out var path))
        {
            config = path;
        }
        return new CommandLine(command, config, options, [.. result.UnmatchedTokens]);
    }
}
