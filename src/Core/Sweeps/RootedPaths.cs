namespace ExperimentGrid.Core.Sweeps;

/// <summary>
/// Whether a path lies under a root as the file system will open it: a symbolic link inside a root may point anywhere,
/// so containment is judged on paths with every link along them followed (realpath's semantics), not on their text.
/// </summary>
public static class RootedPaths
{
    /// <summary>As many links as Linux follows in one lookup before it gives up (ELOOP).</summary>
    private const int MostLinks = 40;

    /// <summary>
    /// The absolute path with each existing component's links followed, as realpath follows them: a link's target is
    /// read from the directory that holds the link, and a ".." in it goes up from where the link led. The part that does
    /// not exist yet, which holds no links, is kept as written. A loop of links throws an <see cref="IOException"/>.
    /// </summary>
    public static string Resolve(string path)
    {
        var full = Path.GetFullPath(path);
        var current = Path.GetPathRoot(full)!;
        var pending = new LinkedList<string>(Components(full[current.Length..]));
        var followed = 0;
        while (pending.First is { } first)
        {
            pending.RemoveFirst();
            var name = first.Value;
            if (name == ".") continue;
            if (name == "..")
            {
                current = Path.GetDirectoryName(current) ?? current;
                continue;
            }
            var next = Path.Combine(current, name);
            if (new FileInfo(next).LinkTarget is not { } target)
            {
                current = next;
                continue;
            }
            if (++followed > MostLinks) throw new IOException($"{path}: too many levels of symbolic links");
            if (Path.GetPathRoot(target) is { Length: > 0 } targetRoot) (current, target) = (targetRoot, target[targetRoot.Length..]);
            foreach (var component in Components(target).Reverse()) pending.AddFirst(component);
        }
        return current;
    }

    /// <summary>
    /// Null when <paramref name="path"/> is <paramref name="resolvedRoot"/> (already resolved) or lies below it once
    /// resolved; else, for a message, where it leads: the path itself, or the path and the target its links lead to.
    /// </summary>
    public static string? Outside(string path, string resolvedRoot)
    {
        string resolved;
        try
        {
            resolved = Resolve(path);
        }
        catch (IOException e)
        {
            return $"{path}, which cannot be resolved ({e.Message})";
        }
        if (Contains(resolvedRoot, resolved)) return null;
        return resolved == Path.GetFullPath(path) ? resolved : $"{Path.GetFullPath(path)}, which leads to {resolved}";
    }

    private static bool Contains(string root, string path)
    {
        var relative = Path.GetRelativePath(root, path);
        return relative != ".." && !relative.StartsWith(".." + Path.DirectorySeparatorChar, StringComparison.Ordinal) && !Path.IsPathRooted(relative);
    }

    private static string[] Components(string relative) => relative.Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries);
}
